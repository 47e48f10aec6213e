"""Every module that defines RQ jobs, imported once by workers before they take jobs."""
import app.bargain.jobs  # noqa: F401
import app.chat.jobs  # noqa: F401
import app.commission.jobs  # noqa: F401
import app.flashsale.jobs  # noqa: F401
import app.groupbuy.jobs  # noqa: F401
import app.idempotency  # noqa: F401
import app.manifest.jobs  # noqa: F401
import app.order.jobs  # noqa: F401
import app.payment.jobs  # noqa: F401
import app.subscribe.jobs  # noqa: F401
