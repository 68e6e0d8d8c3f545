//! Model `auto`'s pending forecasts: what the candidates and the combinations forecast at recent
//! origins, kept until each is scored.

/// The forecasts of recent origins that are still to be scored, as the triangle scoring reads:
/// step `s` of an origin is read once, `s` observations after it was made, so only the last `s`
/// origins' forecasts of step `s` are kept (78 slots for 12 steps, not 144). Step `s` of origin
/// number `o` lives in slot `o mod s`; the next origin overwrites the slot just read. Slots are
/// grouped by that index (group `j` holds slot `j` of steps `j + 1..=horizon`), so the storage
/// grows a group per origin until the horizon's worth: a series that has made few forecasts (at
/// 10,000 switches a series steps every 128 s) holds few. A slot holds every candidate's
/// forecast, then every combination's (`Made`).
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// Values a slot holds.
    width: usize,
    /// Steps forecast per origin.
    horizon: usize,
    /// Group `j` starts at slot `j · horizon − j (j − 1) / 2`; as many groups as origins made,
    /// up to the horizon.
    values: Vec<f64>,
    /// Origins pushed since the last clear (less any dropped); the newest is number
    /// `origins − 1`.
    origins: u64,
}

impl Pending {
    /// Empty, for slots of `width` values and `horizon` steps.
    pub fn new(width: usize, horizon: usize) -> Self {
        Self {
            width,
            horizon,
            values: Vec::new(),
            origins: 0,
        }
    }

    /// Origins held: the newest `min(origins, horizon)`.
    pub fn len(&self) -> usize {
        self.origins.min(self.horizon as u64) as usize
    }

    /// Forgets every origin (their observations can no longer be told apart).
    pub fn clear(&mut self) {
        self.origins = 0;
    }

    /// Forgets the newest origin only: the next [`Pending::push`] takes its number and slots,
    /// and every older origin keeps its age, so each is still scored against its own
    /// observation.
    pub fn drop_newest(&mut self) {
        self.origins = self.origins.saturating_sub(1);
    }

    /// Index of the first value of step `step`'s (1-based) slot for origin number `origin`.
    fn at(&self, step: usize, origin: u64) -> usize {
        let j = (origin % step as u64) as usize;
        (group_start(j, self.horizon) + step - 1 - j) * self.width
    }

    /// The slot of step `step` (1-based) of origin number `origin`.
    fn slot(&self, step: usize, origin: u64) -> Option<&[f64]> {
        let at = self.at(step, origin);
        self.values.get(at..at + self.width)
    }

    /// The slot of step `age + 1` of the origin made `age + 1` observations ago (`age <
    /// len()`): the forecasts of the observation just taken.
    pub fn due(&self, age: usize) -> Option<&[f64]> {
        let origin = self.origins.checked_sub(1 + age as u64)?;
        self.slot(age + 1, origin)
    }

    /// The slot of step `step` of the newest origin.
    pub fn latest(&self, step: usize) -> Option<&[f64]> {
        self.slot(step, self.origins.checked_sub(1)?)
    }

    /// Stores a new origin: `fill(step, slot)` writes each step's slot.
    pub fn push(&mut self, mut fill: impl FnMut(usize, &mut [f64])) {
        let (w, h) = (self.width, self.horizon);
        let o = self.origins;
        // Origin `o` writes slot `o mod s` of every step: groups up to `min(o, h − 1)`.
        let needed = group_start((o as usize).min(h - 1) + 1, h) * w;
        if self.values.len() < needed {
            self.values.reserve_exact(needed - self.values.len());
            self.values.resize(needed, 0.0);
        }
        for s in 1..=h {
            let at = self.at(s, o);
            if let Some(slot) = self.values.get_mut(at..at + w) {
                fill(s, slot);
            }
        }
        self.origins += 1;
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.values.capacity() * 8
    }
}

/// First slot of group `j` of a [`Pending`] over `horizon` steps (groups of `horizon − i` slots).
fn group_start(j: usize, horizon: usize) -> usize {
    j * horizon - j * j.saturating_sub(1) / 2
}
