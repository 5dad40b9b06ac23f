# The prod environment: every module wired together. Values that name real accounts, networks and
# certificates come from prod.tfvars (not in the repository); see README "Deploying".

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.80" }
  }
  backend "s3" {} # bucket, key, region and DynamoDB lock table given at terraform init
}

provider "aws" {
  region = var.region
  default_tags {
    tags = { project = "city-data-exchange", env = "prod" }
  }
}

locals {
  env = "prod"
}

module "audit" {
  source          = "../../modules/audit"
  env             = local.env
  lake_bucket_arn = module.lake.bucket_arn
}

module "lake" {
  source            = "../../modules/lake"
  env               = local.env
  access_log_bucket = module.audit.access_log_bucket
  noncurrent_days   = var.noncurrent_days
  landing_days      = var.landing_days
}

module "secrets" {
  source = "../../modules/secrets"
  env    = local.env
}

module "compute" {
  source                   = "../../modules/compute"
  env                      = local.env
  max_vcpu                 = "128 vCPU"
  max_memory               = "512 GB"
  vpc_id                   = var.vpc_id
  vpc_cidr                 = var.vpc_cidr
  subnet_ids               = var.private_subnet_ids
  lake_bucket_arn          = module.lake.bucket_arn
  lake_kms_key_arn         = module.lake.kms_key_arn
  secrets_kms_key_arn      = module.secrets.kms_key_arn
  pseudonym_key_secret_arn = module.secrets.pseudonym_key_secret_arn
}

module "orchestration" {
  source             = "../../modules/orchestration"
  env                = local.env
  environment_class  = "mw1.medium"
  requirements_file  = "${path.root}/../../../../requirements.lock"
  kms_key_arn        = module.lake.kms_key_arn
  access_log_bucket  = module.audit.access_log_bucket
  lake_bucket_arn    = module.lake.bucket_arn
  emr_application_id = module.compute.application_id
  spark_role_arn     = module.compute.execution_role_arn
  vpc_id             = var.vpc_id
  vpc_cidr           = var.vpc_cidr
  subnet_ids         = var.private_subnet_ids
}

module "delivery" {
  source                 = "../../modules/delivery"
  env                    = local.env
  buyers                 = var.buyers
  lake_bucket            = module.lake.bucket
  lake_bucket_arn        = module.lake.bucket_arn
  lake_kms_key_arn       = module.lake.kms_key_arn
  logs_kms_key_arn       = module.audit.kms_key_arn
  access_log_bucket      = module.audit.access_log_bucket
  sharing_image          = var.sharing_image
  sharing_tasks          = 2
  url_signing_secret_arn = module.secrets.sharing_url_key_secret_arn
  certificate_arn        = var.certificate_arn
  buyer_cidrs            = var.buyer_cidrs
  vpc_id                 = var.vpc_id
  vpc_cidr               = var.vpc_cidr
  public_subnet_ids      = var.public_subnet_ids
  private_subnet_ids     = var.private_subnet_ids
}
