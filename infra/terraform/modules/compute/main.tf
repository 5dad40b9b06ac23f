# Spark jobs on EMR Serverless (ingest, aggregate, publish: the same jobs/ code as locally, CDE_LAKE=s3://).
# The execution role reads and writes the lake bucket only, uses its KMS key and reads the pseudonym secret.
# Several Spark writers of one Delta table take turns on a lease object beside the table, created with an S3
# conditional write (If-None-Match; jobs/common/locks.py), and delta-rs commits the ledger with conditional
# puts: no DynamoDB lock table is needed (S3 has conditional writes since 2024).

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.80" }
  }
}

resource "aws_emrserverless_application" "spark" {
  name          = "cde-${var.env}-spark"
  release_label = var.emr_release
  type          = "spark"

  maximum_capacity {
    cpu    = var.max_vcpu
    memory = var.max_memory
  }

  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = 15
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.spark.id]
  }
  tags = var.tags
}

resource "aws_security_group" "spark" {
  # checkov:skip=CKV2_AWS_5:attached to the EMR Serverless application's network_configuration, which this check does not follow
  name        = "cde-${var.env}-spark"
  description = "EMR Serverless Spark: egress to AWS endpoints in the VPC only"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to VPC endpoints (S3, Secrets Manager, KMS)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
  tags = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "spark" {
  name               = "cde-${var.env}-spark-jobs"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "spark" {
  statement {
    sid       = "ListTheLake"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn]
  }
  statement {
    sid       = "ReadWriteTheLake"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.lake_bucket_arn}/*"]
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.lake_kms_key_arn, var.secrets_kms_key_arn]
  }
  statement {
    sid       = "ReadThePseudonymKey"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.pseudonym_key_secret_arn]
  }
}

resource "aws_iam_role_policy" "spark" {
  name   = "lake-jobs"
  role   = aws_iam_role.spark.id
  policy = data.aws_iam_policy_document.spark.json
}
