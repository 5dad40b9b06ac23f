variable "env" {
  description = "Environment name (dev, prod)."
  type        = string
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket whose object reads and writes CloudTrail records."
  type        = string
}

variable "log_days" {
  description = "Days CloudTrail files and S3 access logs are kept."
  type        = number
  default     = 400
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
