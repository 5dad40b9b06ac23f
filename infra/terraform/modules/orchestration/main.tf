# Airflow on MWAA: dags/ and the pinned requirements (requirements.lock) from a KMS-encrypted, versioned
# source bucket; private web server; every log type to CloudWatch. Its execution role starts EMR
# Serverless job runs with the compute module's role and reads the lake's ops tables, nothing else.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.80" }
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

resource "aws_s3_bucket" "source" {
  # checkov:skip=CKV2_AWS_62:no consumer of bucket events; object-level activity is recorded by CloudTrail data events (audit module)
  # checkov:skip=CKV_AWS_144:no cross-region copy: people-movement data stays in the one EU region the suppliers contracted for
  bucket = "cde-${var.env}-airflow-${data.aws_caller_identity.current.account_id}"
  tags   = var.tags
}

resource "aws_s3_bucket_public_access_block" "source" {
  bucket                  = aws_s3_bucket.source.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "source" {
  bucket = aws_s3_bucket.source.id
  versioning_configuration {
    status = "Enabled" # MWAA requires a versioned source bucket
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "source" {
  bucket = aws_s3_bucket.source.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "source" {
  bucket        = aws_s3_bucket.source.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3-access/airflow/"
}

resource "aws_s3_bucket_lifecycle_configuration" "source" {
  bucket = aws_s3_bucket.source.id
  rule {
    id     = "old-dag-versions-expire"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "source" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.source.arn, "${aws_s3_bucket.source.arn}/*"]
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

resource "aws_s3_bucket_policy" "source" {
  bucket = aws_s3_bucket.source.id
  policy = data.aws_iam_policy_document.source.json
}

resource "aws_s3_object" "requirements" {
  bucket     = aws_s3_bucket.source.id
  key        = "requirements.txt"
  source     = var.requirements_file
  etag       = filemd5(var.requirements_file)
  kms_key_id = var.kms_key_arn
}

resource "aws_security_group" "airflow" {
  name        = "cde-${var.env}-airflow"
  description = "MWAA: its own workers talk to each other; HTTPS to VPC endpoints"
  vpc_id      = var.vpc_id

  ingress {
    description = "MWAA components among themselves"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    self        = true
  }
  egress {
    description = "HTTPS to VPC endpoints"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
  egress {
    description = "MWAA components among themselves"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    self        = true
  }
  tags = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "airflow" {
  name               = "cde-${var.env}-airflow"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "airflow" {
  statement {
    sid       = "ReadDagsAndRequirements"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation"]
    resources = [aws_s3_bucket.source.arn, "${aws_s3_bucket.source.arn}/*"]
  }
  statement {
    sid       = "ReadOpsTablesOfTheLake"
    actions   = ["s3:GetObject"]
    resources = ["${var.lake_bucket_arn}/lake/ops/*", "${var.lake_bucket_arn}/lake/ledger/*"]
  }
  statement {
    sid       = "StartSparkJobs"
    actions   = ["emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "emr-serverless:CancelJobRun"]
    resources = ["arn:aws:emr-serverless:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:/applications/${var.emr_application_id}", "arn:aws:emr-serverless:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:/applications/${var.emr_application_id}/jobruns/*"]
  }
  statement {
    sid       = "PassTheJobRole"
    actions   = ["iam:PassRole"]
    resources = [var.spark_role_arn]
  }
  statement {
    sid       = "WriteItsLogs"
    actions   = ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents", "logs:DescribeLogGroups"]
    resources = ["arn:aws:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:airflow-cde-${var.env}-*"]
  }
  statement {
    sid       = "UseTheKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:Encrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "airflow" {
  name   = "airflow"
  role   = aws_iam_role.airflow.id
  policy = data.aws_iam_policy_document.airflow.json
}

resource "aws_mwaa_environment" "airflow" {
  name                  = "cde-${var.env}"
  airflow_version       = var.airflow_version
  environment_class     = var.environment_class
  source_bucket_arn     = aws_s3_bucket.source.arn
  dag_s3_path           = "dags/"
  requirements_s3_path  = aws_s3_object.requirements.key
  execution_role_arn    = aws_iam_role.airflow.arn
  kms_key               = var.kms_key_arn
  webserver_access_mode = "PRIVATE_ONLY"

  airflow_configuration_options = {
    "core.default_timezone" = "Europe/Copenhagen"
    "core.load_examples"    = "False"
  }

  network_configuration {
    security_group_ids = [aws_security_group.airflow.id]
    subnet_ids         = var.subnet_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = "INFO"
    }
    scheduler_logs {
      enabled   = true
      log_level = "INFO"
    }
    task_logs {
      enabled   = true
      log_level = "INFO"
    }
    webserver_logs {
      enabled   = true
      log_level = "INFO"
    }
    worker_logs {
      enabled   = true
      log_level = "INFO"
    }
  }
  tags = var.tags
}
