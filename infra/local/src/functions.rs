//! Every function the local gateway can mount, by its binary name in template.yaml.
//! Adding a function to the bundle means adding one line here.

use std::{collections::HashMap, sync::Arc};

use shared::{Platform, runtime::Handler};

pub fn mount(platform: &Arc<Platform>) -> HashMap<String, Arc<dyn Handler>> {
    let mut functions: HashMap<String, Arc<dyn Handler>> = HashMap::new();
    functions.insert("health".into(), Arc::new(health::handler(platform.clone())));
    functions.insert("auth".into(), Arc::new(auth::handler(platform.clone())));
    functions.insert("admin".into(), Arc::new(admin::handler(platform.clone())));
    functions.insert(
        "content-api".into(),
        Arc::new(content_api::handler(platform.clone())),
    );
    functions.insert(
        "content-admin".into(),
        Arc::new(content_admin::handler(platform.clone())),
    );
    functions.insert(
        "fallback".into(),
        Arc::new(fallback::handler(platform.clone())),
    );
    functions
}
