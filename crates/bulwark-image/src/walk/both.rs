//! Several readers of one walk: two visitors share every entry, so an image
//! whose users need different things (packages to catalog, set-uid files to
//! list) is decompressed and, from a registry, downloaded once.

use super::{Entry, Kept, Layer, VisitError, Visitor, Walked};

/// Two visitors in one walk. Each entry goes to the first, then to the
/// second, which reads only what the first left of the content: give the
/// second place to a visitor that looks at metadata alone. What each keeps
/// survives exactly as it would in a walk of its own (the squash depends on
/// the entries, not on who kept them); [`Walked::split`] separates them.
#[derive(Debug, Default)]
pub struct Both<A, B>(pub A, pub B);

impl<A: Visitor, B: Visitor> Visitor for Both<A, B> {
    type Keep = (Option<A::Keep>, Option<B::Keep>);

    fn layer_start(&mut self, layer: &Layer) -> Result<(), VisitError> {
        self.0.layer_start(layer)?;
        self.1.layer_start(layer)
    }

    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<Self::Keep>, VisitError> {
        let first = self.0.entry(entry)?;
        let second = self.1.entry(entry)?;
        Ok((first.is_some() || second.is_some()).then_some((first, second)))
    }
}

/// A visitor that may be absent: `None` keeps nothing.
impl<V: Visitor> Visitor for Option<V> {
    type Keep = V::Keep;

    fn layer_start(&mut self, layer: &Layer) -> Result<(), VisitError> {
        self.as_mut().map_or(Ok(()), |v| v.layer_start(layer))
    }

    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<V::Keep>, VisitError> {
        self.as_mut().map_or(Ok(None), |v| v.entry(entry))
    }
}

impl<V: Visitor + ?Sized> Visitor for &mut V {
    type Keep = V::Keep;

    fn layer_start(&mut self, layer: &Layer) -> Result<(), VisitError> {
        (**self).layer_start(layer)
    }

    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<Option<V::Keep>, VisitError> {
        (**self).entry(entry)
    }
}

impl<A, B> Walked<(Option<A>, Option<B>)> {
    /// The walk as each visitor of a [`Both`] would have seen it alone: its
    /// survivors (in path order) and the shared layers and links.
    pub fn split(self) -> (Walked<A>, Vec<Kept<B>>) {
        let mut first = Vec::new();
        let mut second = Vec::new();
        for kept in self.kept {
            let (a, b) = kept.value;
            if let Some(a) = a {
                first.push(Kept {
                    layer: kept.layer,
                    path: kept.path.clone(),
                    value: a,
                });
            }
            if let Some(b) = b {
                second.push(Kept {
                    layer: kept.layer,
                    path: kept.path,
                    value: b,
                });
            }
        }
        let walked = Walked {
            kept: first,
            layers: self.layers,
            symlinks: self.symlinks,
        };
        (walked, second)
    }
}
