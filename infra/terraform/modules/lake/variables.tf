variable "env" {
  description = "Environment name (dev, prod): part of every resource name."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving the lake's S3 server access logs (the audit module's)."
  type        = string
}

variable "noncurrent_days" {
  description = "Days a non-current object version is kept (after a VACUUM or an opt-out delete)."
  type        = number
  default     = 7
}

variable "landing_days" {
  description = "Days raw supplier files stay under landing/ (jobs/ingest/retention.py keeps the same)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
