output "lake" {
  description = "CDE_LAKE for the jobs and the sharing server."
  value       = "s3://${module.lake.bucket}/lake"
}

output "buyer_role_arns" {
  description = "Buyer id -> role reading its outbox prefix."
  value       = module.delivery.buyer_role_arns
}

output "airflow_url" {
  description = "Private Airflow UI."
  value       = module.orchestration.webserver_url
}
