variable "env" {
  description = "Environment name (dev, prod)."
  type        = string
}

variable "emr_release" {
  description = "EMR Serverless release with Spark 4 (matching the pinned pyspark)."
  type        = string
  default     = "emr-7.12.0"
}

variable "max_vcpu" {
  description = "Most vCPU the application may use at once."
  type        = string
  default     = "64 vCPU"
}

variable "max_memory" {
  description = "Most memory the application may use at once."
  type        = string
  default     = "256 GB"
}

variable "vpc_id" {
  description = "VPC of the jobs (private subnets with S3, KMS and Secrets Manager endpoints)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of that VPC (egress is limited to it)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the jobs."
  type        = list(string)
}

variable "lake_bucket_arn" {
  description = "Lake bucket ARN."
  type        = string
}

variable "lake_kms_key_arn" {
  description = "KMS key of the lake."
  type        = string
}

variable "secrets_kms_key_arn" {
  description = "KMS key of the pseudonym secret."
  type        = string
}

variable "pseudonym_key_secret_arn" {
  description = "Secret holding CDE_PSEUDONYM_KEY."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
