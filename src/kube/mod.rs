//! Kubernetes access for the EKS-side resources: cluster name -> `eks:DescribeCluster` (endpoint,
//! CA, authentication mode) -> a bearer token minted here -> a kube client. No aws CLI, no
//! kubeconfig needed (a kubeconfig context can be named instead).

pub mod aws_auth;
pub mod token;

use crate::aws::{self, Aws};
use base64::Engine;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, OnceCell};

/// What `DescribeCluster` tells us.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub endpoint: String,
    pub ca_pem: Vec<u8>,
    /// CONFIG_MAP | API | API_AND_CONFIG_MAP
    pub authentication_mode: String,
}

impl Cluster {
    pub fn uses_config_map(&self) -> bool {
        self.authentication_mode != "API"
    }
    pub fn uses_access_entries(&self) -> bool {
        self.authentication_mode != "CONFIG_MAP"
    }
    pub fn mode_note(&self) -> String {
        format!("cluster {} authentication mode: {}", self.name, self.authentication_mode)
    }
}

/// EKS clusters described in one run: one `DescribeCluster` per cluster, however many resources
/// use it (a per-run cache, held by the run's context).
#[derive(Default)]
pub struct Clusters(Mutex<HashMap<String, Arc<OnceCell<Cluster>>>>);

impl Clusters {
    pub async fn describe(&self, aws: &Aws, region: &str, name: &str) -> crate::Result<Cluster> {
        let cell = self.0.lock().await.entry(name.to_string()).or_default().clone();
        cell.get_or_try_init(|| async {
            let out = aws.eks().describe_cluster().name(name).send().await.map_err(|e| {
                let e = aws::error(e);
                let missing = e.is("ResourceNotFoundException");
                let err = e.op("DescribeCluster");
                if missing {
                    err.with_help(format!("no EKS cluster `{name}` in {region}: check the cluster name (a stack variable) and the region"))
                } else {
                    err
                }
            })?;
            let c = out.cluster.ok_or_else(|| crate::Error::internal(format!("DescribeCluster returned no cluster for {name}")))?;
            let ca = c.certificate_authority().and_then(|a| a.data()).unwrap_or_default();
            Ok(Cluster {
                name: name.to_string(),
                endpoint: c.endpoint().unwrap_or_default().to_string(),
                ca_pem: base64::engine::general_purpose::STANDARD.decode(ca).unwrap_or_default(),
                authentication_mode: c
                    .access_config()
                    .and_then(|a| a.authentication_mode())
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| "CONFIG_MAP".to_string()),
            })
        })
        .await
        .cloned()
    }

    /// The cluster as already described in this run, if it was.
    pub fn described(&self, name: &str) -> Option<Cluster> {
        let map = self.0.try_lock().ok()?;
        map.get(name)?.get().cloned()
    }
}

/// A client for the cluster: from a kubeconfig context if one is named, else endpoint + CA from
/// EKS and a freshly minted token. Not cached: a token is valid for minutes, an apply that waits
/// on IAM can take longer, and minting is a local signature, not a round trip.
pub async fn client(aws: &Aws, region: &str, info: &Cluster, kubeconfig_context: Option<&str>) -> crate::Result<kube::Client> {
    let cluster = &info.name;
    {
        let config = match kubeconfig_context {
            Some(context) => {
                let opts = kube::config::KubeConfigOptions { context: Some(context.to_string()), ..Default::default() };
                kube::Config::from_kubeconfig(&opts)
                    .await
                    .map_err(|e| crate::Error::user(format!("cannot use kubeconfig context `{context}`: {e}"), "check `kubectl config get-contexts`"))?
            }
            None => {
                let url = info.endpoint.parse().map_err(|e| {
                    crate::Error::user(format!("cluster {cluster} has an invalid endpoint `{}`: {e}", info.endpoint), "check the cluster in the EKS console")
                })?;
                let mut config = kube::Config::new(url);
                config.root_cert = Some(pem_to_der(&info.ca_pem));
                let token = token::mint(&aws.config, region, cluster).await?;
                config.auth_info.token = Some(secrecy::SecretString::from(token));
                config
            }
        };
        kube::Client::try_from(config).map_err(|e| {
            crate::Error::user(
                format!("cannot build a Kubernetes client for cluster {cluster}: {e}"),
                "check the cluster's endpoint and certificate in the EKS console",
            )
        })
    }
}

/// Certificates in a PEM bundle, as DER.
fn pem_to_der(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN") {
            current = Some(String::new());
        } else if line.starts_with("-----END") {
            if let Some(b64) = current.take() {
                if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
                    out.push(der);
                }
            }
        } else if let Some(buf) = current.as_mut() {
            buf.push_str(line);
        }
    }
    out
}

/// A failed Kubernetes API call as a classified error with the next step.
pub fn error(operation: &str, e: ::kube::Error) -> crate::Error {
    use crate::error::{CallError, Class};
    let (class, code, message, help) = match &e {
        ::kube::Error::Api(s) => {
            let class = match s.code {
                401 | 403 => Class::AccessDenied,
                404 => Class::NotFound,
                409 => Class::Conflict,
                c if c >= 500 => Class::ServerError,
                _ => Class::Other,
            };
            let help = match class {
                Class::AccessDenied => Some("the cluster refused the caller: map your IAM identity in aws-auth or grant it an access entry, or name a `kubeconfig_context` that has access".to_string()),
                Class::ServerError => Some("the Kubernetes API server failed; run again".to_string()),
                _ => None,
            };
            (class, format!("{} {}", s.code, s.reason), s.message.clone(), help)
        }
        other => (
            Class::Unreachable,
            "ConnectionError".to_string(),
            other.to_string(),
            Some("the cluster's API endpoint cannot be reached from here: check the network path (a private endpoint needs a VPN or bastion), or name a `kubeconfig_context` that can reach it".to_string()),
        ),
    };
    crate::Error::Call(Box::new(CallError { address: None, operation: operation.to_string(), class, code, message, help }))
}
