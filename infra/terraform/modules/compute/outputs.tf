output "application_id" {
  description = "EMR Serverless application id (CDE_SPARK_MASTER is replaced by job runs on it)."
  value       = aws_emrserverless_application.spark.id
}

output "execution_role_arn" {
  description = "Role the Spark job runs assume."
  value       = aws_iam_role.spark.arn
}
