variable "env" {
  description = "Environment name (dev, prod)."
  type        = string
}

variable "buyers" {
  description = "Buyer id (as in contracts and reference/buyers.yaml) -> the AWS principal that assumes its role and the external id it must present."
  type = map(object({
    principal_arn = string
    external_id   = string
  }))
}

variable "lake_bucket" {
  description = "Lake bucket name."
  type        = string
}

variable "lake_bucket_arn" {
  description = "Lake bucket ARN."
  type        = string
}

variable "lake_kms_key_arn" {
  description = "KMS key of the lake."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the log groups."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the load balancer's access logs."
  type        = string
}

variable "sharing_image" {
  description = "Container image of the pipeline (cde share), pinned by digest."
  type        = string
}

variable "sharing_tasks" {
  description = "Fargate tasks serving Delta Sharing."
  type        = number
  default     = 2
}

variable "url_signing_secret_arn" {
  description = "Secret holding the key that signs pre-signed file URLs."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the sharing endpoint's host name."
  type        = string
}

variable "buyer_cidrs" {
  description = "Networks buyers connect from."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of that VPC."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks."
  type        = list(string)
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
