variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-north-1"
}

variable "vpc_id" {
  description = "VPC with private subnets and endpoints for S3, DynamoDB, KMS, Secrets Manager, logs and ECR."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (two or more, in different zones)."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Public subnets of the sharing load balancer."
  type        = list(string)
}

variable "buyers" {
  description = "Buyer id -> principal that assumes its outbox role and the external id it presents."
  type = map(object({
    principal_arn = string
    external_id   = string
  }))
  default = {}
}

variable "buyer_cidrs" {
  description = "Networks buyers reach the sharing endpoint from."
  type        = list(string)
}

variable "sharing_image" {
  description = "Pipeline image (ECR, pinned by digest) that runs cde share."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the sharing host name."
  type        = string
}

variable "noncurrent_days" {
  description = "Days a non-current lake object version is kept."
  type        = number
  default     = 7
}

variable "landing_days" {
  description = "Days raw supplier files stay under landing/."
  type        = number
  default     = 30
}
