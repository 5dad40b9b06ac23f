# The lake: one S3 bucket for landing, bronze, silver, gold, ledger, ops, outbox and audit prefixes.
# Encrypted with its own KMS key, public access blocked, TLS only, versioned with a short non-current
# expiry (so vacuumed and opted-out data really goes), access-logged to the audit bucket.
# Lifecycle expiry acts only on landing/: deleting files under a Delta table corrupts it, so the Delta
# layers keep their retention through DELETE and VACUUM (jobs/ingest/retention.py).

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.80" }
  }
}

data "aws_caller_identity" "current" {}

resource "aws_kms_key" "lake" {
  description             = "cde-${var.env}: lake bucket encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.lake_key.json
  tags                    = var.tags
}

data "aws_iam_policy_document" "lake_key" {
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

resource "aws_kms_alias" "lake" {
  name          = "alias/cde-${var.env}-lake"
  target_key_id = aws_kms_key.lake.key_id
}

resource "aws_s3_bucket" "lake" {
  # checkov:skip=CKV2_AWS_62:no consumer of bucket events; object-level activity is recorded by CloudTrail data events (audit module)
  # checkov:skip=CKV_AWS_144:no cross-region copy: people-movement data stays in the one EU region the suppliers contracted for
  bucket = "cde-${var.env}-lake-${data.aws_caller_identity.current.account_id}"
  tags   = var.tags
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.lake.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "lake" {
  bucket        = aws_s3_bucket.lake.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3-access/lake/"
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id

  # Every prefix: a version that is no longer current (a vacuumed file, an opted-out row's file) goes
  # after a short grace period, so deleted data does not live on as old versions.
  rule {
    id     = "noncurrent-versions-expire"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Only landing/ (raw supplier files) expires by age: never a Delta table's prefix.
  rule {
    id     = "landing-expires"
    status = "Enabled"
    filter {
      prefix = "landing/"
    }
    expiration {
      days = var.landing_days
    }
  }
}

data "aws_iam_policy_document" "lake_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.lake.arn,
      "${aws_s3_bucket.lake.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = data.aws_iam_policy_document.lake_bucket.json
}
