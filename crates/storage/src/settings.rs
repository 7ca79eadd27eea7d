//! Which object store holds the documents, and building it.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;

use crate::StorageError;

/// Where documents are kept. See the crate documentation for the Aliyun OSS values.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// Files under a directory (the embedded default). Created if missing.
    Local { dir: PathBuf },
    /// An S3-compatible service: Aliyun OSS in production, moto in the tests.
    S3 {
        /// `https://<bucket>.oss-cn-hangzhou.aliyuncs.com` with `virtual_hosted_style`, or
        /// `http://127.0.0.1:59000` (path style) for a local server.
        endpoint: String,
        bucket: String,
        /// Region used in the request signature (`cn-hangzhou` for OSS, see the crate docs).
        region: String,
        access_key_id: String,
        secret_access_key: String,
        /// Address the bucket as a host name (`<bucket>.<endpoint host>`). OSS accepts only
        /// this style; the endpoint must then already include the bucket.
        virtual_hosted_style: bool,
        /// Allow a plain `http://` endpoint (local test servers only).
        allow_http: bool,
    },
    /// Process memory; for unit tests only (nothing survives the process).
    Memory,
}

impl std::fmt::Debug for StoreSettings {
    // By hand, so the secret key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local { dir } => f.debug_struct("Local").field("dir", dir).finish(),
            Self::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                virtual_hosted_style,
                allow_http,
                ..
            } => f
                .debug_struct("S3")
                .field("endpoint", endpoint)
                .field("bucket", bucket)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"***")
                .field("virtual_hosted_style", virtual_hosted_style)
                .field("allow_http", allow_http)
                .finish(),
            Self::Memory => f.write_str("Memory"),
        }
    }
}

/// Builds the store described by `settings`.
///
/// The S3 client is set up for the lowest common denominator of S3-compatible services:
/// every request body is a whole, in-memory part whose SHA-256 is signed (object_store never
/// sends `aws-chunked`/`STREAMING-AWS4-HMAC-SHA256-PAYLOAD` bodies), conditional puts are
/// disabled (this module never needs them: keys are content-addressed, so overwriting a key
/// writes the same bytes), and no object tags or checksum headers are sent.
pub fn build_store(settings: &StoreSettings) -> Result<Arc<dyn ObjectStore>, StorageError> {
    match settings {
        StoreSettings::Local { dir } => {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Config(format!("无法创建文件存储目录 {}：{e}", dir.display()))
            })?;
            let dir = std::fs::canonicalize(dir).map_err(|e| {
                StorageError::Config(format!("文件存储目录 {} 不可用：{e}", dir.display()))
            })?;
            let store = LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| StorageError::Config(format!("{}：{e}", dir.display())))?;
            Ok(Arc::new(store))
        }
        StoreSettings::S3 {
            endpoint,
            bucket,
            region,
            access_key_id,
            secret_access_key,
            virtual_hosted_style,
            allow_http,
        } => {
            let missing = [
                ("endpoint", endpoint),
                ("bucket", bucket),
                ("region", region),
                ("access_key_id", access_key_id),
                ("secret_access_key", secret_access_key),
            ]
            .into_iter()
            .filter(|(_, v)| v.trim().is_empty())
            .map(|(k, _)| k)
            .collect::<Vec<_>>();
            if !missing.is_empty() {
                return Err(StorageError::Config(format!(
                    "S3 存储缺少设置：{}",
                    missing.join("、")
                )));
            }
            if endpoint.starts_with("http://") && !allow_http {
                return Err(StorageError::Config(format!(
                    "端点 {endpoint} 使用 http：生产环境请用 https，本地测试服务器请打开 allow_http"
                )));
            }
            if *virtual_hosted_style && !endpoint_names_bucket(endpoint, bucket) {
                return Err(StorageError::Config(format!(
                    "虚拟主机方式（virtual_hosted_style）要求端点包含存储桶名，例如 https://{bucket}.oss-cn-hangzhou.aliyuncs.com，而不是 {endpoint}"
                )));
            }
            let store = AmazonS3Builder::new()
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_bucket_name(bucket)
                .with_region(region)
                .with_access_key_id(access_key_id)
                .with_secret_access_key(secret_access_key)
                .with_virtual_hosted_style_request(*virtual_hosted_style)
                .with_allow_http(*allow_http)
                // Signed payload: the hash of each whole part, never chunked signing.
                .with_unsigned_payload(false)
                .with_conditional_put(S3ConditionalPut::Disabled)
                .with_disable_tagging(true)
                .build()
                .map_err(|e| StorageError::Config(e.to_string()))?;
            Ok(Arc::new(store))
        }
        StoreSettings::Memory => Ok(Arc::new(InMemory::new())),
    }
}

/// Whether a virtual-hosted endpoint's host starts with `<bucket>.`.
fn endpoint_names_bucket(endpoint: &str, bucket: &str) -> bool {
    let host = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host.strip_prefix(bucket)
        .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn oss() -> StoreSettings {
        StoreSettings::S3 {
            endpoint: "https://xiaobao-docs.oss-cn-hangzhou.aliyuncs.com".into(),
            bucket: "xiaobao-docs".into(),
            region: "cn-hangzhou".into(),
            access_key_id: "LTAI5tExample".into(),
            secret_access_key: "very-secret".into(),
            virtual_hosted_style: true,
            allow_http: false,
        }
    }

    #[test]
    fn the_documented_oss_settings_build() {
        build_store(&oss()).unwrap();
    }

    #[test]
    fn virtual_hosted_style_requires_the_bucket_in_the_endpoint() {
        let StoreSettings::S3 {
            bucket,
            region,
            access_key_id,
            secret_access_key,
            ..
        } = oss()
        else {
            unreachable!()
        };
        let wrong = StoreSettings::S3 {
            endpoint: "https://oss-cn-hangzhou.aliyuncs.com".into(),
            bucket,
            region,
            access_key_id,
            secret_access_key,
            virtual_hosted_style: true,
            allow_http: false,
        };
        let err = build_store(&wrong).err().unwrap();
        assert_eq!(err.code(), "storage_config");
        assert!(
            err.to_string().contains("xiaobao-docs.oss-cn-hangzhou"),
            "{err}"
        );
    }

    #[test]
    fn plain_http_needs_allow_http_and_empty_settings_are_named() {
        let mut s = oss();
        if let StoreSettings::S3 {
            endpoint,
            virtual_hosted_style,
            ..
        } = &mut s
        {
            *endpoint = "http://127.0.0.1:59000".into();
            *virtual_hosted_style = false;
        }
        assert!(build_store(&s).is_err());
        let empty = StoreSettings::S3 {
            endpoint: String::new(),
            bucket: "b".into(),
            region: " ".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            virtual_hosted_style: false,
            allow_http: true,
        };
        let err = build_store(&empty).err().unwrap().to_string();
        assert!(err.contains("endpoint、region"), "{err}");
    }

    #[test]
    fn debug_output_hides_the_secret_key() {
        let shown = format!("{:?}", oss());
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("LTAI5tExample"));
    }

    #[test]
    fn the_local_store_creates_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("a").join("objects");
        build_store(&StoreSettings::Local {
            dir: objects.clone(),
        })
        .unwrap();
        assert!(objects.is_dir());
    }
}
