# Delivery: one IAM role per buyer that reads only lake/outbox/<buyer>/ (the outbox channel), and the
# Delta Sharing server (jobs/sharing/server.py) on ECS Fargate behind an HTTPS load balancer (TLS 1.2+).
# The server's task role reads product tables (lake/gold/<contract>/) and writes its read log, nothing below.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.80" }
  }
}

data "aws_region" "current" {}

# --- outbox: a role per buyer, its own prefix only

data "aws_iam_policy_document" "buyer_assume" {
  for_each = var.buyers
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [each.value.principal_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [each.value.external_id]
    }
  }
}

resource "aws_iam_role" "buyer" {
  for_each           = var.buyers
  name               = "cde-${var.env}-buyer-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.buyer_assume[each.key].json
  tags               = merge(var.tags, { buyer = each.key })
}

data "aws_iam_policy_document" "buyer" {
  for_each = var.buyers
  statement {
    sid       = "ListOwnOutbox"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["lake/outbox/${each.key}/*"]
    }
  }
  statement {
    sid       = "ReadOwnOutbox"
    actions   = ["s3:GetObject"]
    resources = ["${var.lake_bucket_arn}/lake/outbox/${each.key}/*"]
  }
  statement {
    sid       = "DecryptOwnOutbox"
    actions   = ["kms:Decrypt"]
    resources = [var.lake_kms_key_arn]
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = ["${var.lake_bucket_arn}/lake/outbox/${each.key}/*"]
    }
  }
}

resource "aws_iam_role_policy" "buyer" {
  for_each = var.buyers
  name     = "read-own-outbox"
  role     = aws_iam_role.buyer[each.key].id
  policy   = data.aws_iam_policy_document.buyer[each.key].json
}

# --- Delta Sharing server on ECS Fargate

resource "aws_ecs_cluster" "sharing" {
  name = "cde-${var.env}-sharing"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = var.tags
}

resource "aws_cloudwatch_log_group" "sharing" {
  name              = "/cde/${var.env}/sharing"
  retention_in_days = 365
  kms_key_id        = var.logs_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "task_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sharing_task" {
  name               = "cde-${var.env}-sharing-task"
  assume_role_policy = data.aws_iam_policy_document.task_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "sharing_task" {
  statement {
    sid       = "ListProductTables"
    actions   = ["s3:ListBucket"]
    resources = [var.lake_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["lake/gold/*", "lake/ops/sharing*"]
    }
  }
  statement {
    sid       = "ReadProductTables"
    actions   = ["s3:GetObject"]
    resources = ["${var.lake_bucket_arn}/lake/gold/*"]
  }
  statement {
    sid       = "WriteRecipientsAndReadLog"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.lake_bucket_arn}/lake/ops/sharing*"]
  }
  statement {
    sid       = "UseTheLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.lake_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "sharing_task" {
  name   = "serve-products"
  role   = aws_iam_role.sharing_task.id
  policy = data.aws_iam_policy_document.sharing_task.json
}

resource "aws_iam_role" "sharing_execution" {
  name               = "cde-${var.env}-sharing-execution"
  assume_role_policy = data.aws_iam_policy_document.task_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "sharing_execution" {
  # checkov:skip=CKV_AWS_356:ecr:GetAuthorizationToken accepts no resource but "*"; the image itself is pinned by digest
  statement {
    sid       = "PullImage"
    actions   = ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = ["*"] # GetAuthorizationToken takes no resource; the image is pinned by digest below
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.sharing.arn}:*"]
  }
  statement {
    sid       = "ReadUrlSigningSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.url_signing_secret_arn]
  }
}

resource "aws_iam_role_policy" "sharing_execution" {
  name   = "start-sharing-task"
  role   = aws_iam_role.sharing_execution.id
  policy = data.aws_iam_policy_document.sharing_execution.json
}

resource "aws_ecs_task_definition" "sharing" {
  family                   = "cde-${var.env}-sharing"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "1024"
  memory                   = "2048"
  task_role_arn            = aws_iam_role.sharing_task.arn
  execution_role_arn       = aws_iam_role.sharing_execution.arn
  container_definitions = jsonencode([{
    name                   = "sharing"
    image                  = var.sharing_image
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    command                = ["cde", "share", "--host", "0.0.0.0", "--port", "8765"]
    portMappings           = [{ containerPort = 8765, protocol = "tcp" }]
    environment            = [{ name = "CDE_LAKE", value = "s3://${var.lake_bucket}/lake" }]
    secrets                = [{ name = "CDE_SHARING_URL_KEY", valueFrom = var.url_signing_secret_arn }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.sharing.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "sharing"
      }
    }
  }])
  tags = var.tags
}

resource "aws_security_group" "alb" {
  name        = "cde-${var.env}-sharing-alb"
  description = "Delta Sharing load balancer: HTTPS from buyers"
  vpc_id      = var.vpc_id
  ingress {
    description = "HTTPS from the buyers' networks"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.buyer_cidrs
  }
  egress {
    description = "To the sharing tasks"
    from_port   = 8765
    to_port     = 8765
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
  tags = var.tags
}

resource "aws_security_group" "tasks" {
  name        = "cde-${var.env}-sharing-tasks"
  description = "Delta Sharing tasks: from the load balancer only"
  vpc_id      = var.vpc_id
  ingress {
    description     = "From the load balancer"
    from_port       = 8765
    to_port         = 8765
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
  }
  egress {
    description = "HTTPS to VPC endpoints (S3, Secrets Manager, logs)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
  tags = var.tags
}

resource "aws_lb" "sharing" {
  # checkov:skip=CKV2_AWS_28:no WAF in this module: the listener admits buyer_cidrs only and every request carries a hashed, expiring bearer token; put a WAF in front where buyers connect from the open internet
  name                       = "cde-${var.env}-sharing"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  access_logs {
    bucket  = var.access_log_bucket
    prefix  = "alb/sharing"
    enabled = true
  }
  tags = var.tags
}

resource "aws_lb_target_group" "sharing" {
  name        = "cde-${var.env}-sharing"
  port        = 8765
  protocol    = "HTTP" # inside the VPC, from the load balancer to the task
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path    = "/openapi.json"
    matcher = "200"
  }
  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.sharing.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.sharing.arn
  }
  tags = var.tags
}

resource "aws_ecs_service" "sharing" {
  name            = "cde-${var.env}-sharing"
  cluster         = aws_ecs_cluster.sharing.id
  task_definition = aws_ecs_task_definition.sharing.arn
  desired_count   = var.sharing_tasks
  launch_type     = "FARGATE"
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.sharing.arn
    container_name   = "sharing"
    container_port   = 8765
  }
  tags = var.tags
}
