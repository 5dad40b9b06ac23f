output "bucket" {
  description = "Lake bucket name: CDE_LAKE=s3://<bucket>/lake"
  value       = aws_s3_bucket.lake.id
}

output "bucket_arn" {
  description = "Lake bucket ARN."
  value       = aws_s3_bucket.lake.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the lake."
  value       = aws_kms_key.lake.arn
}
