//! The shared handle every service and handler holds: configuration, the state
//! database and the in-process services, which call each other through it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::compute::ComputeService;
use crate::db::Db;
use crate::identity::Identity;
use crate::image::ImageService;
use crate::network::NetworkService;
use crate::object::ObjectService;
use crate::orchestration::OrchestrationService;
use crate::placement::PlacementService;
use crate::profile::Profile;
use crate::volume::VolumeService;

#[derive(Clone)]
pub(crate) struct Cloud {
    pub profile: Arc<Profile>,
    pub state_dir: Arc<PathBuf>,
    pub db: Db,
    pub identity: Identity,
    pub image: ImageService,
    pub network: NetworkService,
    pub placement: PlacementService,
    pub compute: ComputeService,
    pub volume: VolumeService,
    pub object: ObjectService,
    pub orchestration: OrchestrationService,
}
