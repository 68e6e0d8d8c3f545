//! The write path: the pipeline (get, set, adopt), batched writes with per-update errors, and
//! replaying the desired state after a restart.

use std::sync::Arc;

use bytes::Bytes;

use super::{lock, pipeline_cookie, P4RuntimeClient, PipelineOutcome};
use crate::p4runtime::entity::TableEntrySpec;
use crate::p4runtime::error::WriteError;
use crate::p4runtime::error::{ClientError, ResolveError};
use crate::p4runtime::index::P4InfoIndex;
use crate::p4runtime::proto::p4::config::v1::P4Info;
use crate::p4runtime::proto::p4::v1 as p4;

/// Shared, not copied: devices running one program hold one P4Info and one device config
/// (the BMv2 JSON of prescient.p4 is 104 KB) between them.
#[derive(Debug, Clone)]
pub(super) struct Pipeline {
    p4info: Arc<P4Info>,
    device_config: Bytes,
    cookie: u64,
}

impl P4RuntimeClient {
    /// The P4Runtime version the target implements.
    pub async fn capabilities(&mut self) -> Result<String, ClientError> {
        let resp = self
            .grpc
            .capabilities(p4::CapabilitiesRequest {})
            .await
            .map_err(|s| ClientError::rpc("Capabilities", &s))?;
        Ok(resp.into_inner().p4runtime_api_version)
    }

    /// The installed pipeline's cookie (`None`: no pipeline or no cookie).
    pub async fn pipeline_cookie(&mut self) -> Result<Option<u64>, ClientError> {
        let cfg = self
            .get_pipeline(p4::get_forwarding_pipeline_config_request::ResponseType::CookieOnly)
            .await?;
        Ok(cfg.and_then(|c| c.cookie).map(|c| c.cookie))
    }

    /// Fetches the installed pipeline (the fields selected by `response_type`).
    pub async fn get_pipeline(
        &mut self,
        response_type: p4::get_forwarding_pipeline_config_request::ResponseType,
    ) -> Result<Option<p4::ForwardingPipelineConfig>, ClientError> {
        let req = p4::GetForwardingPipelineConfigRequest {
            device_id: self.config.device_id,
            response_type: response_type as i32,
        };
        match self.grpc.get_forwarding_pipeline_config(req).await {
            Ok(resp) => Ok(resp.into_inner().config),
            // Targets answer FAILED_PRECONDITION / NOT_FOUND when nothing is installed.
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::FailedPrecondition | tonic::Code::NotFound
                ) =>
            {
                Ok(None)
            }
            Err(s) => Err(ClientError::rpc("GetForwardingPipelineConfig", &s)),
        }
    }

    /// Adopts the P4Info installed on the target (when another controller pushed it).
    pub async fn fetch_p4info(&mut self) -> Result<Arc<P4InfoIndex>, ClientError> {
        let cfg = self
            .get_pipeline(p4::get_forwarding_pipeline_config_request::ResponseType::P4infoAndCookie)
            .await?;
        let Some(p4info) = cfg.and_then(|c| c.p4info) else {
            return Err(ClientError::NoPipeline {
                device_id: self.config.device_id,
            });
        };
        let index = P4InfoIndex::shared(Arc::new(p4info)).map_err(|e| ResolveError::Malformed {
            what: "P4Info from the target",
            why: e.to_string(),
        })?;
        self.index = Some(index.clone());
        Ok(index)
    }

    /// Takes `p4info` and `device_config` as the pipeline in use without sending anything (a
    /// backup client may not push one): reads and writes resolve names through it, and a
    /// later [`Self::set_pipeline`] or reconnect as primary pushes it when the target runs
    /// another.
    pub fn adopt_pipeline(
        &mut self,
        p4info: impl Into<Arc<P4Info>>,
        device_config: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        let (p4info, device_config) = (p4info.into(), device_config.into());
        let index = shared_index(&p4info)?;
        let cookie = pipeline_cookie(&p4info, &device_config);
        self.pipeline = Some(Pipeline {
            p4info,
            device_config,
            cookie,
        });
        self.index = Some(index);
        Ok(())
    }

    /// Installs a pipeline with VERIFY_AND_COMMIT unless the target already runs `cookie`
    /// (default: [`pipeline_cookie`]) and `force` is false. A different cookie means a new
    /// program: the desired state of the old one is dropped.
    pub async fn set_pipeline(
        &mut self,
        p4info: impl Into<Arc<P4Info>>,
        device_config: impl Into<Bytes>,
        cookie: Option<u64>,
        force: bool,
    ) -> Result<PipelineOutcome, ClientError> {
        let (p4info, device_config) = (p4info.into(), device_config.into());
        let index = shared_index(&p4info)?;
        let cookie = cookie.unwrap_or_else(|| pipeline_cookie(&p4info, &device_config));
        if self.pipeline.as_ref().is_some_and(|p| p.cookie != cookie) {
            self.desired.clear();
        }
        self.pipeline = Some(Pipeline {
            p4info,
            device_config,
            cookie,
        });
        self.index = Some(index);
        self.push_pipeline(force).await
    }

    pub(super) async fn push_pipeline(
        &mut self,
        force: bool,
    ) -> Result<PipelineOutcome, ClientError> {
        let Some(pipeline) = self.pipeline.clone() else {
            return Err(ClientError::NoPipeline {
                device_id: self.config.device_id,
            });
        };
        if !force && self.pipeline_cookie().await? == Some(pipeline.cookie) {
            return Ok(PipelineOutcome::AlreadyRunning);
        }
        if !self.is_primary() {
            return Err(self.not_primary());
        }
        let req = p4::SetForwardingPipelineConfigRequest {
            device_id: self.config.device_id,
            role: lock(&self.session.arbitration).role_name().to_string(),
            election_id: self.election(),
            action: p4::set_forwarding_pipeline_config_request::Action::VerifyAndCommit as i32,
            config: Some(p4::ForwardingPipelineConfig {
                // The request owns its copies for as long as it is in flight.
                p4info: Some(P4Info::clone(&pipeline.p4info)),
                p4_device_config: pipeline.device_config.to_vec(),
                cookie: Some(p4::forwarding_pipeline_config::Cookie {
                    cookie: pipeline.cookie,
                }),
            }),
            ..Default::default()
        };
        self.grpc
            .set_forwarding_pipeline_config(req)
            .await
            .map_err(|s| ClientError::rpc("SetForwardingPipelineConfig", &s))?;
        Ok(PipelineOutcome::Installed)
    }

    /// Sends one batch (CONTINUE_ON_ERROR). On failure the error lists every failed update
    /// by index and entity; the updates the target applied are still recorded as desired.
    pub async fn write(&mut self, updates: Vec<p4::Update>) -> Result<(), ClientError> {
        if updates.is_empty() {
            return Ok(());
        }
        if !self.is_primary() {
            return Err(self.not_primary());
        }
        let req = p4::WriteRequest {
            device_id: self.config.device_id,
            role: lock(&self.session.arbitration).role_name().to_string(),
            election_id: self.election(),
            updates,
            atomicity: p4::write_request::Atomicity::ContinueOnError as i32,
            ..Default::default()
        };
        let updates = req.updates.clone();
        let started = std::time::Instant::now();
        let answer = self.grpc.write(req).await;
        // A status from the target is an answered write; a dead transport is not a latency.
        if answer
            .as_ref()
            .map_or_else(|s| s.code() != tonic::Code::Unavailable, |_| true)
        {
            self.config.write_latency.record(started.elapsed());
        }
        match answer {
            Ok(_) => {
                if self.track_desired {
                    for u in &updates {
                        self.desired.apply(u);
                    }
                }
                Ok(())
            }
            Err(s) => {
                let err = WriteError::from_status(&s, &updates, self.index.as_deref());
                if self.track_desired {
                    for (u, applied) in updates.iter().zip(&err.applied) {
                        if *applied {
                            self.desired.apply(u);
                        }
                    }
                }
                Err(err.into())
            }
        }
    }

    /// Builds an update of a table entry described by names (validated before sending).
    pub fn table_update(
        &self,
        op: p4::update::Type,
        spec: &TableEntrySpec,
    ) -> Result<p4::Update, ClientError> {
        let index = self.index()?;
        let entry = if op == p4::update::Type::Delete {
            index.encode_key(spec)?
        } else {
            index.encode_table_entry(spec)?
        };
        Ok(p4::Update {
            r#type: op as i32,
            entity: Some(p4::Entity {
                entity: Some(p4::entity::Entity::TableEntry(entry)),
            }),
        })
    }

    /// Validates and writes table entries in one batch.
    pub async fn write_entries(
        &mut self,
        op: p4::update::Type,
        specs: &[TableEntrySpec],
    ) -> Result<(), ClientError> {
        let updates = specs
            .iter()
            .map(|s| self.table_update(op, s))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(updates).await
    }

    /// Writes the whole desired state to the target; returns how many entities were sent.
    pub async fn replay(&mut self) -> Result<usize, ClientError> {
        let updates = self.desired.replay_updates();
        let total = updates.len();
        let batch = self.config.replay_batch.max(1);
        let mut rest = updates.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<p4::Update> = rest.by_ref().take(batch).collect();
            match self.write(chunk.clone()).await {
                Ok(()) => {}
                Err(ClientError::Write(err)) => {
                    let mut retry = Vec::new();
                    for f in &err.failures {
                        if f.code != tonic::Code::AlreadyExists {
                            return Err(ClientError::Write(err));
                        }
                        if let Some(u) = chunk.get(f.index) {
                            let mut u = u.clone();
                            u.r#type = p4::update::Type::Modify as i32;
                            retry.push(u);
                        }
                    }
                    if err.failures.is_empty() {
                        return Err(ClientError::Write(err));
                    }
                    self.write(retry).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

/// The (shared) index of `p4info`, or why it cannot be indexed.
fn shared_index(p4info: &Arc<P4Info>) -> Result<Arc<P4InfoIndex>, ClientError> {
    P4InfoIndex::shared(Arc::clone(p4info)).map_err(|e| {
        ClientError::from(ResolveError::Malformed {
            what: "P4Info",
            why: e.to_string(),
        })
    })
}
