//! `wire_enum!`: protocol enums with an `Unknown(n)` variant so unknown values round-trip.

/// Declares a `Copy` enum over an integer with named values, `Unknown(raw)` for the rest,
/// `From` conversions both ways and `name()` giving the spec name.
macro_rules! wire_enum {
    (
        $(#[$m:meta])*
        pub enum $name:ident : $repr:ty {
            $($var:ident = $val:literal => $text:literal,)*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "` (", stringify!($val), ").")]
                $var,
            )*
            /// A value this codec does not name; kept so it round-trips.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                match v {
                    $($val => Self::$var,)*
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> $repr {
                match v {
                    $($name::$var => $val,)*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl $name {
            /// The spec's name for this value (`"UNKNOWN"` for unnamed values).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$var => $text,)*
                    Self::Unknown(_) => "UNKNOWN",
                }
            }

            /// Every named value, for tests and generators.
            #[allow(dead_code)]
            pub(crate) const NAMED: &'static [$name] = &[$(Self::$var,)*];
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self {
                    Self::Unknown(v) => write!(f, "UNKNOWN({v})"),
                    other => f.write_str(other.name()),
                }
            }
        }
    };
}

pub(crate) use wire_enum;
