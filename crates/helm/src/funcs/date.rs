//! Time functions. They depend on the clock, so a render using them is nondeterministic; not
//! implemented yet, they fail naming the function.

use gantry_gotmpl::Ty;

use super::Reg;

const A: Ty = Ty::Any;
const S: Ty = Ty::Str;

pub(super) fn register(r: &mut Reg<'_>) {
    r.unsupported("now", &[], None);
    r.unsupported("ago", &[A], None);
    r.unsupported("date", &[S, A], None);
    r.unsupported("date_in_zone", &[S, A, S], None);
    r.unsupported("dateInZone", &[S, A, S], None);
    r.unsupported("date_modify", &[S, A], None);
    r.unsupported("dateModify", &[S, A], None);
    r.unsupported("must_date_modify", &[S, A], None);
    r.unsupported("mustDateModify", &[S, A], None);
    r.unsupported("duration", &[A], None);
    r.unsupported("durationRound", &[A], None);
    r.unsupported("htmlDate", &[A], None);
    r.unsupported("htmlDateInZone", &[A, S], None);
    r.unsupported("mustToDate", &[S, S], None);
    r.unsupported("toDate", &[S, S], None);
    r.unsupported("unixEpoch", &[A], None);
    r.unsupported("mustToDuration", &[A], None);
    r.unsupported("durationSeconds", &[A], None);
    r.unsupported("durationMilliseconds", &[A], None);
    r.unsupported("durationMicroseconds", &[A], None);
    r.unsupported("durationNanoseconds", &[A], None);
    r.unsupported("durationMinutes", &[A], None);
    r.unsupported("durationHours", &[A], None);
    r.unsupported("durationDays", &[A], None);
    r.unsupported("durationWeeks", &[A], None);
    r.unsupported("durationRoundTo", &[A, A], None);
    r.unsupported("durationTruncateTo", &[A, A], None);
}
