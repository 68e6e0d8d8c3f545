//! The forwarding pipeline of a device: SetForwardingPipelineConfig and its reads (spec §15),
//! keeping the entities when a new config of the same program gives them the same ids.

use std::collections::BTreeMap;
use std::sync::Arc;

use prescient_southbound::p4runtime::proto::p4::v1 as p4;

use super::{P4SimNetwork, Pipeline};
use crate::p4rt::arbitration::election;
use crate::p4rt::error::EntityError;
use crate::p4rt::schema::Schema;
use crate::p4rt::state::DeviceState;

impl P4SimNetwork {
    /// SetForwardingPipelineConfig (spec §15).
    pub fn set_pipeline(
        &self,
        req: &p4::SetForwardingPipelineConfigRequest,
    ) -> Result<(), EntityError> {
        use p4::set_forwarding_pipeline_config_request::Action as A;
        let mut d = self.device(req.device_id)?;
        d.arbitration
            .check_primary(&req.role, election(req.election_id.as_ref()))?;
        let action = A::try_from(req.action).unwrap_or(A::Unspecified);
        let verify = |c: Option<&p4::ForwardingPipelineConfig>| -> Result<(p4::ForwardingPipelineConfig, Arc<Schema>), EntityError> {
            let c = c.ok_or_else(|| EntityError::invalid("config missing"))?;
            let info = c.p4info.as_ref().ok_or_else(|| EntityError::invalid("config without a P4Info"))?;
            let schema = Schema::from_p4info(info).map_err(|e| EntityError::invalid(e.to_string()))?;
            let diff = self.expected.differences(&schema);
            if !diff.is_empty() {
                return Err(EntityError::invalid(format!(
                    "this target runs prescient.p4 only; the P4Info differs: {}",
                    diff.join("; ")
                )));
            }
            Ok((c.clone(), Arc::new(schema)))
        };
        match action {
            A::Verify => verify(req.config.as_ref()).map(|_| ()),
            A::VerifyAndSave => {
                d.saved = Some(verify(req.config.as_ref())?);
                Ok(())
            }
            A::VerifyAndCommit => {
                let (config, schema) = verify(req.config.as_ref())?;
                d.pipeline = Some(Pipeline {
                    config,
                    state: DeviceState::new(schema),
                });
                d.saved = None;
                d.unacked.clear();
                Ok(())
            }
            A::Commit => {
                let (config, schema) = d.saved.take().ok_or_else(|| {
                    EntityError::precondition(
                        "COMMIT without a saved config (VERIFY_AND_SAVE first)",
                    )
                })?;
                d.pipeline = Some(Pipeline {
                    config,
                    state: DeviceState::new(schema),
                });
                Ok(())
            }
            A::ReconcileAndCommit => {
                // Same program (checked by verify): keep the forwarding state, take the new config.
                let (config, schema) = verify(req.config.as_ref())?;
                match d.pipeline.as_mut() {
                    Some(p) if same_ids(&p.state.schema, &schema) => {
                        p.config = config;
                        p.state.schema = schema;
                    }
                    Some(_) => {
                        return Err(EntityError::unimplemented(
                            "RECONCILE_AND_COMMIT with renumbered ids: use VERIFY_AND_COMMIT and replay",
                        ))
                    }
                    None => {
                        d.pipeline = Some(Pipeline {
                            config,
                            state: DeviceState::new(schema),
                        })
                    }
                }
                Ok(())
            }
            A::Unspecified => Err(EntityError::invalid("pipeline config action unspecified")),
        }
    }

    /// GetForwardingPipelineConfig, honouring `response_type`.
    pub fn get_pipeline(
        &self,
        req: &p4::GetForwardingPipelineConfigRequest,
    ) -> Result<p4::ForwardingPipelineConfig, EntityError> {
        use p4::get_forwarding_pipeline_config_request::ResponseType as R;
        let d = self.device(req.device_id)?;
        let Some(p) = d.pipeline.as_ref() else {
            // No config yet reads as an empty config, not an error.
            return Ok(p4::ForwardingPipelineConfig::default());
        };
        let c = p.config.clone();
        Ok(match R::try_from(req.response_type).unwrap_or(R::All) {
            R::All => c,
            R::CookieOnly => p4::ForwardingPipelineConfig {
                cookie: c.cookie,
                ..Default::default()
            },
            R::P4infoAndCookie => p4::ForwardingPipelineConfig {
                p4info: c.p4info,
                cookie: c.cookie,
                ..Default::default()
            },
            R::DeviceConfigAndCookie => p4::ForwardingPipelineConfig {
                p4_device_config: c.p4_device_config,
                cookie: c.cookie,
                ..Default::default()
            },
        })
    }
}

/// Whether two schemas of the same program give every table and action the same id, so stored
/// state stays valid under either.
fn same_ids(a: &Schema, b: &Schema) -> bool {
    let tables = |s: &Schema| {
        s.tables
            .values()
            .map(|t| (t.name.clone(), t.id))
            .collect::<BTreeMap<_, _>>()
    };
    let actions = |s: &Schema| {
        s.actions
            .values()
            .map(|x| (x.name.clone(), x.id))
            .collect::<BTreeMap<_, _>>()
    };
    let profiles = |s: &Schema| {
        s.profiles
            .values()
            .map(|x| (x.name.clone(), x.id))
            .collect::<BTreeMap<_, _>>()
    };
    let counters = |s: &Schema| {
        s.counters
            .values()
            .map(|x| (x.name.clone(), x.id))
            .collect::<BTreeMap<_, _>>()
    };
    tables(a) == tables(b)
        && actions(a) == actions(b)
        && profiles(a) == profiles(b)
        && counters(a) == counters(b)
}
