variable "env" {
  description = "Environment name (dev, prod)."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
