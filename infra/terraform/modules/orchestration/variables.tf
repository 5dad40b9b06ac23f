variable "env" {
  description = "Environment name (dev, prod)."
  type        = string
}

variable "airflow_version" {
  description = "MWAA Airflow version (3.x, as the DAGs import from airflow.sdk)."
  type        = string
  default     = "3.0.6"
}

variable "environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"
}

variable "requirements_file" {
  description = "Path of the pinned requirements uploaded for the workers (the repository's requirements.lock)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the source bucket and MWAA's own data."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving S3 server access logs."
  type        = string
}

variable "lake_bucket_arn" {
  description = "Lake bucket ARN (the scheduler reads ops tables and the ledger)."
  type        = string
}

variable "emr_application_id" {
  description = "EMR Serverless application the tasks start job runs on."
  type        = string
}

variable "spark_role_arn" {
  description = "Execution role of the Spark job runs (passed, not assumed)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the environment."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of that VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Two private subnets (MWAA needs two)."
  type        = list(string)
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
