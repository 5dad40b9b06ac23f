output "access_log_bucket" {
  description = "Bucket for S3 server access logs."
  value       = aws_s3_bucket.access_logs.id
}

output "kms_key_arn" {
  description = "KMS key of the trail and audit logs."
  value       = aws_kms_key.audit.arn
}
