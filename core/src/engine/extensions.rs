//! State that layers above the engine keep in it, one value per type: the Lua host, the plugin
//! registry, and each plugin's own state. The engine knows nothing of these types, which is what
//! keeps it below the modules that own them.

use std::any::{Any, TypeId};
use std::collections::HashMap;

/// A map from a type to its one value.
#[derive(Default)]
pub struct Extensions {
    values: HashMap<TypeId, Box<dyn Any + Send>, ahash::RandomState>,
}

impl Extensions {
    /// The value of type `T`, if one was put in.
    pub fn get<T: Any + Send>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref())
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.values
            .get_mut(&TypeId::of::<T>())
            .and_then(|v| v.downcast_mut())
    }

    /// The value of type `T`, made with `make` if there is none yet.
    pub fn get_or_insert_with<T: Any + Send>(&mut self, make: impl FnOnce() -> T) -> &mut T {
        let value = self
            .values
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(make()));
        match value.downcast_mut() {
            Some(v) => v,
            // The entry under T's TypeId always holds a T.
            None => unreachable!("extension stored under another type's id"),
        }
    }

    /// Puts in `value`, replacing the previous value of its type.
    pub fn insert<T: Any + Send>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// Takes out the value of type `T`.
    pub fn remove<T: Any + Send>(&mut self) -> Option<T> {
        self.values
            .remove(&TypeId::of::<T>())
            .and_then(|v| v.downcast().ok())
            .map(|v| *v)
    }

    /// Removes the value of the type with id `id` (how the plugin host drops a plugin's state
    /// without knowing its type).
    pub fn remove_id(&mut self, id: TypeId) {
        self.values.remove(&id);
    }
}
