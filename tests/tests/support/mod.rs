//! Credentials and certificates for the security tests, made at run time in a temporary
//! folder: an HS256 secret, two RSA key pairs (one as a PEM public key, one in a JWKS file),
//! static tokens, and a test CA with server and client certificates.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use leadflow_kit::auth::{AuthSettings, BearerToken, StaticTokenSettings, TokenChannel, token_sha256};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Issuer and audience that the test tokens carry and the services require.
pub const ISSUER: &str = "https://id.leadflow.test";
pub const AUDIENCE: &str = "leadflow";
/// `kid` of the JWKS key.
pub const JWKS_KID: &str = "test-key-1";

/// How a test token is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// JWT signed with the shared HS256 secret.
    Hs256,
    /// JWT signed with the RSA key whose public half is the PEM key file.
    Rs256Pem,
    /// JWT signed with the RSA key published in the JWKS file.
    Rs256Jwks,
    /// A static token listed by its hash.
    Static,
}

impl TokenKind {
    pub const ALL: [TokenKind; 4] = [TokenKind::Hs256, TokenKind::Rs256Pem, TokenKind::Rs256Jwks, TokenKind::Static];
}

/// Role sets that get a static token each.
const STATIC_ROLES: [&str; 4] = ["marketing", "sales", "admin", "service"];

/// RSA keys are slow to generate in a debug build, so every test of a binary shares two.
fn rsa_keys() -> &'static [rsa::RsaPrivateKey; 2] {
    static KEYS: OnceLock<[rsa::RsaPrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        [
            rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key"),
            rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key"),
        ]
    })
}

/// Keys, token files and settings of one test.
pub struct Credentials {
    pub dir: tempfile::TempDir,
    secret: Vec<u8>,
    pem_key: EncodingKey,
    jwks_key: EncodingKey,
    settings: AuthSettings,
}

fn static_token(role: &str) -> String {
    format!("static-{role}-token-0123456789")
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
}

impl Credentials {
    /// Writes the key files and builds settings that accept all four kinds of token. The
    /// services send the static `service` token on their relays.
    pub fn new() -> Credentials {
        let dir = tempfile::tempdir().expect("temporary folder");
        let [pem_private, jwks_private] = rsa_keys();

        let secret: Vec<u8> = (0..48).map(|index| b'a' + (index % 26) as u8).collect();
        let secret_file = dir.path().join("hs256.secret");
        std::fs::write(&secret_file, [secret.as_slice(), b"\n"].concat()).expect("write secret");

        let public_file = dir.path().join("rs256.pem");
        let public_pem = pem_private.to_public_key().to_public_key_pem(LineEnding::LF).expect("public PEM");
        std::fs::write(&public_file, public_pem).expect("write public key");

        let public = jwks_private.to_public_key();
        let jwks = serde_json::json!({
            "keys": [{
                "kty": "RSA",
                "kid": JWKS_KID,
                "alg": "RS256",
                "use": "sig",
                "n": base64url(&public.n().to_bytes_be()),
                "e": base64url(&public.e().to_bytes_be()),
            }]
        });
        let jwks_file = dir.path().join("jwks.json");
        std::fs::write(&jwks_file, jwks.to_string()).expect("write JWKS");

        let service_token_file = dir.path().join("service.token");
        std::fs::write(&service_token_file, format!("{}\n", static_token("service"))).expect("write service token");

        let static_tokens = STATIC_ROLES
            .iter()
            .map(|role| StaticTokenSettings {
                sha256: token_sha256(&static_token(role)),
                subject: format!("static-{role}"),
                roles: vec![(*role).to_owned()],
            })
            .collect();

        let settings = AuthSettings {
            enabled: true,
            hs256_secret_file: Some(secret_file),
            rs256_public_key_file: Some(public_file),
            jwks_file: Some(jwks_file),
            issuer: Some(ISSUER.to_owned()),
            audience: Some(AUDIENCE.to_owned()),
            static_tokens,
            service_token_file: Some(service_token_file),
            ..AuthSettings::default()
        };

        let pem_key = EncodingKey::from_rsa_pem(pem_private.to_pkcs1_pem(LineEnding::LF).expect("PKCS#1").as_bytes())
            .expect("RSA encoding key");
        let jwks_key = EncodingKey::from_rsa_pem(jwks_private.to_pkcs1_pem(LineEnding::LF).expect("PKCS#1").as_bytes())
            .expect("RSA encoding key");
        Credentials { dir, secret, pem_key, jwks_key, settings }
    }

    /// Returns the authentication settings of the services.
    pub fn settings(&self) -> AuthSettings {
        self.settings.clone()
    }

    /// Returns a token of `kind` for a caller with `role`, valid for an hour.
    pub fn token(&self, kind: TokenKind, role: &str) -> String {
        if kind == TokenKind::Static {
            return static_token(role);
        }
        let claims = serde_json::json!({
            "sub": format!("{kind:?}-{role}").to_lowercase(),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": now() + 3600,
            "nbf": now() - 10,
            "roles": [role],
        });
        self.jwt(kind, &claims)
    }

    /// Signs `claims` as a JWT of `kind`.
    pub fn jwt(&self, kind: TokenKind, claims: &serde_json::Value) -> String {
        let (header, key) = match kind {
            TokenKind::Hs256 => (Header::new(Algorithm::HS256), EncodingKey::from_secret(&self.secret).expect("HS256 key")),
            TokenKind::Rs256Pem => (Header::new(Algorithm::RS256), self.pem_key.clone()),
            TokenKind::Rs256Jwks => {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some(JWKS_KID.to_owned());
                (header, self.jwks_key.clone())
            }
            TokenKind::Static => panic!("static tokens are not JWTs"),
        };
        jsonwebtoken::encode(&header, claims, &key).expect("sign JWT")
    }

    /// Returns an HS256 token for `role` that expired an hour ago.
    pub fn expired_token(&self, role: &str) -> String {
        let claims = serde_json::json!({
            "sub": "expired", "iss": ISSUER, "aud": AUDIENCE, "exp": now() - 3600, "roles": [role],
        });
        self.jwt(TokenKind::Hs256, &claims)
    }
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Wraps `channel` so that every call carries `token`; no token when `None`.
pub fn with_token(channel: Channel, token: Option<&str>) -> TokenChannel {
    let token = match token {
        Some(token) => BearerToken::new(token).expect("token"),
        None => BearerToken::default(),
    };
    InterceptedService::new(channel, token)
}

/// A test CA with a server certificate for 127.0.0.1 and localhost and a client
/// certificate, all written as PEM files.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate from another CA, which the services must reject.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

fn issue_ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let key = rcgen::KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert, rcgen::Issuer::new(params, key))
}

fn issue_leaf(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    names: &[&str],
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("leaf parameters");
    params.extended_key_usages = vec![usage];
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("leaf certificate");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = |name: &str| dir.path().join(name);
        let write = |name: &str, pem: &str| std::fs::write(path(name), pem).expect("write PEM");

        let (ca, issuer) = issue_ca("Leadflow test CA");
        write("ca.pem", &ca.pem());
        let (cert, key) = issue_leaf(&issuer, &["localhost", "127.0.0.1"], rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        write("server.pem", &cert);
        write("server.key", &key);
        let (cert, key) = issue_leaf(&issuer, &["leadflow-service"], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        write("client.pem", &cert);
        write("client.key", &key);

        let (_, other_issuer) = issue_ca("Unrelated CA");
        let (cert, key) = issue_leaf(&other_issuer, &["stranger"], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        write("stranger.pem", &cert);
        write("stranger.key", &key);

        Pki {
            ca_cert: path("ca.pem"),
            server_cert: path("server.pem"),
            server_key: path("server.key"),
            client_cert: path("client.pem"),
            client_key: path("client.key"),
            stranger_cert: path("stranger.pem"),
            stranger_key: path("stranger.key"),
            dir,
        }
    }

    /// TLS settings of a service: its certificate, and with `mutual` the client CA and the
    /// relays' client certificate.
    pub fn service_tls(&self, mutual: bool) -> leadflow_kit::auth::tls::TlsSettings {
        leadflow_kit::auth::tls::TlsSettings {
            cert_file: Some(self.server_cert.clone()),
            key_file: Some(self.server_key.clone()),
            client_ca_file: mutual.then(|| self.ca_cert.clone()),
            ca_file: Some(self.ca_cert.clone()),
            client_cert_file: mutual.then(|| self.client_cert.clone()),
            client_key_file: mutual.then(|| self.client_key.clone()),
            server_name: None,
        }
    }

    /// Client TLS that trusts the test CA, with the client certificate `identity` (cert, key).
    pub fn client_tls(&self, identity: Option<(&PathBuf, &PathBuf)>) -> tonic::transport::ClientTlsConfig {
        let files = leadflow_kit::auth::tls::ClientTlsFiles {
            ca_file: Some(self.ca_cert.clone()),
            cert_file: identity.map(|(cert, _)| cert.clone()),
            key_file: identity.map(|(_, key)| key.clone()),
            server_name: None,
        };
        files.load().expect("client TLS").expect("client TLS configured")
    }
}

/// A codec that sends and receives message bytes as they are, so a test can call any method
/// of the descriptor set with an empty request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

/// Encoder of [`RawCodec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RawEncoder;

/// Decoder of [`RawCodec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut bytes = vec![0; prost::bytes::Buf::remaining(src)];
        prost::bytes::Buf::copy_to_slice(src, &mut bytes);
        Ok(Some(bytes))
    }
}

/// One RPC of the Leadflow descriptor set.
#[derive(Clone, Debug)]
pub struct Method {
    /// Full path, for example `/leadflow.activity.v1.ActivityService/TrackActivity`.
    pub path: String,
    /// Whether the server streams its response.
    pub server_streaming: bool,
}

/// Lists every method of every service in `leadflow_proto::FILE_DESCRIPTOR_SET`.
pub fn descriptor_methods() -> Vec<Method> {
    use prost::Message as _;

    let set = prost_types::FileDescriptorSet::decode(leadflow_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut methods = Vec::new();
    for file in set.file {
        for service in &file.service {
            for method in &service.method {
                methods.push(Method {
                    path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                    server_streaming: method.server_streaming(),
                });
            }
        }
    }
    methods
}

/// Calls `method` with an empty request message and returns the status; OK when the call
/// succeeded or a response stream opened.
pub async fn call_empty(channel: TokenChannel, method: &Method, lang: &str) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("channel ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_maybe_shared(method.path.clone()).expect("method path");
    let mut request = tonic::Request::new(Vec::new());
    request.set_timeout(std::time::Duration::from_secs(20));
    request.metadata_mut().insert("accept-language", lang.parse().expect("language tag"));

    let result = if method.server_streaming {
        grpc.server_streaming(request, path, RawCodec).await.map(|_| ())
    } else {
        grpc.unary(request, path, RawCodec).await.map(|_| ())
    };
    match result {
        Ok(()) => tonic::Status::ok(""),
        Err(status) => status,
    }
}
