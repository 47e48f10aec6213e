"""Import every table so that metadata (Alembic, tests) sees the whole schema."""
import app.aftersales.models  # noqa: F401
import app.auth.models  # noqa: F401
import app.bargain.models  # noqa: F401
import app.catalog.models  # noqa: F401
import app.chat.models  # noqa: F401
import app.commission.models  # noqa: F401
import app.coupons.models  # noqa: F401
import app.earnings.models  # noqa: F401
import app.flashsale.models  # noqa: F401
import app.groupbuy.models  # noqa: F401
import app.idempotency  # noqa: F401
import app.leader.models  # noqa: F401
import app.manifest.models  # noqa: F401
import app.notify.models  # noqa: F401
import app.order.models  # noqa: F401
import app.payment.models  # noqa: F401
import app.pickup.models  # noqa: F401
import app.points.models  # noqa: F401
import app.reconcile.models  # noqa: F401
import app.share.models  # noqa: F401
import app.shipping.models  # noqa: F401
import app.subscribe.models  # noqa: F401
import app.wallet.models  # noqa: F401
import app.workbench.models  # noqa: F401


def load_all() -> None:
    """Importing this module put every table on the metadata; kept so callers say why they import it."""
