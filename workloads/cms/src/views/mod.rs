//! The CMS's pages, rendered on the server with `maud`: pure functions from the services' data (and the
//! signed-in viewer) to HTML. `layout` is the shell (sidebar menu by scope, the stylesheet, the login,
//! forbidden and error pages), `widgets` the shared parts (badges, form fields with the service's error
//! next to them, search and pager); one module a group of screens. Nothing here calls a service.

pub mod dashboard;
pub mod events;
pub mod gate;
pub mod layout;
pub mod orders;
pub mod setup;
pub mod users;
pub mod widgets;

use crate::access::{Section, Viewer};
use crate::format::Display;

/// What every signed-in page needs besides its data.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The signed-in person.
    pub viewer: &'a Viewer,
    /// The session's CSRF token, carried by every form.
    pub csrf: &'a str,
    /// The menu entry to highlight.
    pub active: Section,
    /// Time zone and currency.
    pub display: &'a Display,
}
