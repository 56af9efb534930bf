//! `obs_build_info`: which service, version and instance a scrape came from.

use prometheus::{IntGaugeVec, Opts, Registry};

use crate::Error;
use crate::names::{BUILD_INFO_LABELS, OBS_BUILD_INFO};

/// The identity of a running service, as shown by `obs_build_info` and the trace resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// `service.name`.
    pub service_name: String,
    /// `service.version`.
    pub service_version: String,
    /// `service.instance.id`.
    pub service_instance_id: String,
}

impl BuildInfo {
    pub(crate) fn register(&self, registry: &Registry) -> Result<(), Error> {
        let gauge = IntGaugeVec::new(
            Opts::new(
                OBS_BUILD_INFO,
                "Always 1; labels name the service, its version and instance.",
            ),
            &BUILD_INFO_LABELS,
        )?;
        gauge
            .with_label_values(&[
                self.service_name.as_str(),
                self.service_version.as_str(),
                self.service_instance_id.as_str(),
            ])
            .set(1);
        registry.register(Box::new(gauge))?;
        Ok(())
    }
}
