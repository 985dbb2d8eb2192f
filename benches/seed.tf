# The seed stack (stacks/eks-devops.yaml) as Terraform configuration, for `make bench`'s side-by-side
# run against the emulator. The aws-auth entry is left out: it needs the kubernetes provider. The
# bucket has its own name: the emulator gives a re-created bucket the tags of the deleted one.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

variable "endpoint" { type = string }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {
    codebuild           = var.endpoint
    codepipeline        = var.endpoint
    codestarconnections = var.endpoint
    ecr                 = var.endpoint
    iam                 = var.endpoint
    s3                  = var.endpoint
    sns                 = var.endpoint
    sts                 = var.endpoint
  }
}

locals {
  account_id = "123456789012"
  region     = "us-east-1"
  image      = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
  tags       = { "provision:stack" = "eks-devops-tf" }
  # The policy files use the stack language's ${...} references; templatefile reads the same ones.
  refs = {
    account_id          = local.account_id
    region              = local.region
    s3_bucket           = { artifacts = { arn = aws_s3_bucket.artifacts.arn } }
    codestar_connection = { github = { arn = aws_codestarconnections_connection.github.arn } }
    sns_topic           = { approval = { arn = aws_sns_topic.approval.arn } }
  }
}

resource "aws_ecr_repository" "app" {
  name                 = "eks-devops"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration { scan_on_push = true }
  tags = local.tags
}

resource "aws_s3_bucket" "artifacts" {
  bucket        = "eks-devops-tf-artifacts-${local.account_id}-${local.region}"
  force_destroy = true
  tags          = local.tags
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "AES256" }
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_codestarconnections_connection" "github" {
  name          = "eks-devops-github-connection"
  provider_type = "GitHub"
  tags          = local.tags
}

resource "aws_sns_topic" "approval" {
  name         = "eks-devops-topic1"
  display_name = "eks-devops-topic1"
  tags         = local.tags
}

resource "aws_sns_topic_subscription" "approval_email" {
  topic_arn = aws_sns_topic.approval.arn
  protocol  = "email"
  endpoint  = "stacksimplify@gmail.com"
}

resource "aws_iam_role" "kubectl" {
  name               = "EksCodeBuildKubectlRole"
  description        = "Assumed by the deploy stage to run kubectl against the EKS cluster"
  assume_role_policy = templatefile("policies/kubectl-role-trust.json", local.refs)
  tags               = local.tags
}

resource "aws_iam_role_policy" "kubectl_eks_describe" {
  name   = "eks-describe"
  role   = aws_iam_role.kubectl.id
  policy = templatefile("policies/eks-describe.json", local.refs)
}

resource "aws_iam_policy" "sts_assume_kubectl" {
  name        = "eks-codebuild-sts-assume-role"
  description = "CodeBuild to interact with EKS cluster to perform changes"
  policy      = templatefile("policies/sts-assume-kubectl-role.json", merge(local.refs, { iam_role = { kubectl = { arn = aws_iam_role.kubectl.arn } } }))
  tags        = local.tags
}

resource "aws_iam_role" "pipeline" {
  name               = "eks-devops-codepipeline-service-role"
  assume_role_policy = templatefile("policies/codepipeline-trust.json", local.refs)
  tags               = local.tags
}

resource "aws_iam_role_policy" "pipeline_base" {
  name   = "codepipeline-base"
  role   = aws_iam_role.pipeline.id
  policy = templatefile("policies/codepipeline-service.json", local.refs)
}

resource "aws_iam_role_policy_attachment" "pipeline_codebuild" {
  role       = aws_iam_role.pipeline.name
  policy_arn = "arn:aws:iam::aws:policy/AWSCodeBuildAdminAccess"
}

resource "aws_iam_role" "build" {
  name               = "buildphase-codebuild-eks-devops-service-role"
  assume_role_policy = templatefile("policies/codebuild-trust.json", local.refs)
  tags               = local.tags
}

resource "aws_iam_role_policy" "build_base" {
  name   = "codebuild-base"
  role   = aws_iam_role.build.id
  policy = templatefile("policies/codebuild-build.json", local.refs)
}

resource "aws_iam_role_policy_attachment" "build_ecr" {
  role       = aws_iam_role.build.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess"
}

resource "aws_iam_role_policy_attachment" "build_logs" {
  role       = aws_iam_role.build.name
  policy_arn = "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"
}

resource "aws_iam_role" "deploy" {
  name               = "deployphase-codebuild-eks-devops-service-role"
  assume_role_policy = templatefile("policies/codebuild-trust.json", local.refs)
  tags               = local.tags
}

resource "aws_iam_role_policy" "deploy_base" {
  name   = "codebuild-base"
  role   = aws_iam_role.deploy.id
  policy = templatefile("policies/codebuild-deploy.json", local.refs)
}

resource "aws_iam_role_policy_attachment" "deploy_sts" {
  role       = aws_iam_role.deploy.name
  policy_arn = aws_iam_policy.sts_assume_kubectl.arn
}

resource "aws_codebuild_project" "build" {
  name         = "build-eks-devops"
  description  = "Build the image and push it to ECR"
  service_role = aws_iam_role.build.arn
  artifacts { type = "CODEPIPELINE" }
  source {
    type      = "CODEPIPELINE"
    buildspec = "buildspec-build.yml"
  }
  environment {
    image           = local.image
    compute_type    = "BUILD_GENERAL1_SMALL"
    type            = "LINUX_CONTAINER"
    privileged_mode = true
    environment_variable {
      name  = "IMAGE_URI"
      value = aws_ecr_repository.app.repository_url
    }
  }
  logs_config {
    cloudwatch_logs {
      group_name  = "buildphase-cb-eks-deveops-group"
      stream_name = "buildphase-cb-eks-deveops-stream"
    }
  }
  tags       = local.tags
  depends_on = [aws_iam_role_policy.build_base]
}

resource "aws_codebuild_project" "deploy" {
  name         = "deploy-eks-devops"
  description  = "Deploy the image to EKS with kubectl"
  service_role = aws_iam_role.deploy.arn
  artifacts { type = "CODEPIPELINE" }
  source {
    type      = "CODEPIPELINE"
    buildspec = "buildspec-deploy.yml"
  }
  environment {
    image           = local.image
    compute_type    = "BUILD_GENERAL1_SMALL"
    type            = "LINUX_CONTAINER"
    privileged_mode = false
    environment_variable {
      name  = "EKS_CLUSTER_NAME"
      value = "eksdemo1"
    }
    environment_variable {
      name  = "EKS_KUBECTL_ROLE_ARN"
      value = aws_iam_role.kubectl.arn
    }
  }
  logs_config {
    cloudwatch_logs {
      group_name  = "deployphase-cb-eks-deveops-group"
      stream_name = "deployphase-cb-eks-deveops-stream"
    }
  }
  tags       = local.tags
  depends_on = [aws_iam_role_policy.deploy_base]
}

resource "aws_codepipeline" "main" {
  name           = "eks-devops"
  pipeline_type  = "V2"
  execution_mode = "QUEUED"
  role_arn       = aws_iam_role.pipeline.arn
  artifact_store {
    location = aws_s3_bucket.artifacts.bucket
    type     = "S3"
  }
  stage {
    name = "Source"
    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = "CodeStarSourceConnection"
      version          = "1"
      output_artifacts = ["SourceArtifact"]
      configuration = {
        ConnectionArn        = aws_codestarconnections_connection.github.arn
        FullRepositoryId     = "stacksimplify/aws-eks-devops"
        BranchName           = "main"
        OutputArtifactFormat = "CODE_ZIP"
      }
    }
  }
  stage {
    name = "Build"
    action {
      name             = "Build"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["SourceArtifact"]
      output_artifacts = ["BuildArtifact"]
      configuration    = { ProjectName = aws_codebuild_project.build.name }
    }
  }
  stage {
    name = "DeploymentApproval"
    action {
      name          = "DeploymentApproval"
      category      = "Approval"
      owner         = "AWS"
      provider      = "Manual"
      version       = "1"
      configuration = { NotificationArn = aws_sns_topic.approval.arn }
    }
  }
  stage {
    name = "Deploy"
    action {
      name            = "DeployToEKS"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = ["BuildArtifact"]
      configuration   = { ProjectName = aws_codebuild_project.deploy.name }
    }
  }
  tags       = local.tags
  depends_on = [aws_iam_role_policy.pipeline_base]
}
