"""The coupons domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import Conflict, NotFound, Unprocessable


class CouponTemplateNotFound(NotFound):
    code = "coupon_template_not_found"


class CouponNotFound(NotFound):
    """Missing, or another buyer's (existence is not revealed)."""
    code = "coupon_not_found"


class CouponsGone(Conflict):
    """The template's total is issued."""
    code = "coupons_gone"


class ClaimLimitReached(Conflict):
    """The buyer holds per_user_limit coupons of the template already."""
    code = "claim_limit_reached"


class CouponNotClaimable(Conflict):
    """Outside the template's window, or a template only leaders hand out."""
    code = "coupon_not_claimable"


class CouponUsed(Conflict):
    code = "coupon_used"


class CouponExpired(Conflict):
    code = "coupon_expired"


class CouponNotYetValid(Conflict):
    code = "coupon_not_yet_valid"


class CouponMinSpendNotMet(Unprocessable):
    code = "coupon_min_spend_not_met"


class CouponNotApplicable(Unprocessable):
    """No line of the order is in the coupon's product scope, or the order is a flash-sale,
    group-buy or bargain one."""
    code = "coupon_not_applicable"


class NoCouponQuota(Conflict):
    """The operator gave this leader no quota of the template, or it is all handed out."""
    code = "no_coupon_quota"


class QuotaBelowGranted(Conflict):
    code = "quota_below_granted"


class CouponLeaderHasNoPoint(Conflict):
    """A leader without a pickup point has no fans to grant to."""
    code = "coupon_leader_has_no_point"


class InvalidCouponTemplate(Unprocessable):
    """A template whose fields pass their schema but not together (window, percent, scope)."""
    code = "invalid_coupon_template"
