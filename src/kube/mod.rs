//! Kubernetes access for the EKS-side resources (aws-auth).
