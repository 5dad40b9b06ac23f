output "pseudonym_key_secret_arn" {
  description = "Secret holding CDE_PSEUDONYM_KEY."
  value       = aws_secretsmanager_secret.pseudonym_key.arn
}

output "kms_key_arn" {
  description = "KMS key of the secret."
  value       = aws_kms_key.secrets.arn
}

output "sharing_url_key_secret_arn" {
  description = "Secret holding CDE_SHARING_URL_KEY."
  value       = aws_secretsmanager_secret.sharing_url_key.arn
}
