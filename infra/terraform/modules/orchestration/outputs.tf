output "source_bucket" {
  description = "Bucket holding dags/ and requirements.txt."
  value       = aws_s3_bucket.source.id
}

output "webserver_url" {
  description = "Private Airflow UI URL."
  value       = aws_mwaa_environment.airflow.webserver_url
}
