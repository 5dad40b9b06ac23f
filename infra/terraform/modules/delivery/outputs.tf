output "buyer_role_arns" {
  description = "Buyer id -> role that reads its outbox prefix."
  value       = { for buyer, role in aws_iam_role.buyer : buyer => role.arn }
}

output "sharing_endpoint" {
  description = "Host of the Delta Sharing endpoint (point the DNS name of the certificate at it)."
  value       = aws_lb.sharing.dns_name
}
