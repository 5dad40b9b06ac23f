# The HMAC master key of the pseudonyms (CDE_PSEUDONYM_KEY, at least 32 bytes) and the key that signs
# Delta Sharing file URLs (CDE_SHARING_URL_KEY, hex) in Secrets Manager, under their own KMS key. Terraform creates the secret, never its value: the value is put once by the supplier's
# key custodian (aws secretsmanager put-secret-value), so it is in no state file and no plan.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.80" }
  }
}

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "secrets" {
  description             = "cde-${var.env}: pseudonym master key"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.secrets_key.json
  tags                    = var.tags
}

data "aws_iam_policy_document" "secrets_key" {
  # checkov:skip=CKV_AWS_109:a KMS key policy's resource "*" is the key itself; the account root administers it (AWS default key policy)
  # checkov:skip=CKV_AWS_111:a KMS key policy's resource "*" is the key itself; the account root administers it (AWS default key policy)
  # checkov:skip=CKV_AWS_356:a KMS key policy's resource "*" is the key itself, not every resource
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_secretsmanager_secret" "pseudonym_key" {
  # checkov:skip=CKV2_AWS_57:rotated by its custodian, not by a Lambda: a new pseudonym master key re-keys every pseudonym (README "Pseudonyms and keys"); a new URL key only invalidates URLs handed out
  name                    = "cde/${var.env}/pseudonym-master-key"
  description             = "HMAC master key of the pseudonyms (jobs/ingest/pseudonym.py); value put out of band"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 30
  tags                    = var.tags
}

resource "aws_secretsmanager_secret" "sharing_url_key" {
  # checkov:skip=CKV2_AWS_57:rotated by its custodian, not by a Lambda: a new pseudonym master key re-keys every pseudonym (README "Pseudonyms and keys"); a new URL key only invalidates URLs handed out
  name                    = "cde/${var.env}/sharing-url-key"
  description             = "Key signing Delta Sharing file URLs (jobs/sharing/server.py), hex; value put out of band"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = 7
  tags                    = var.tags
}
