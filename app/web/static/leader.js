// 邻里团长工作台: a plain-JS client of the JSON API (/api/v1). No build step, no dependencies.
// Every piece of API data reaches the page through textContent, never innerHTML.
"use strict";

(() => {
  const body = document.body;
  const API = body.dataset.apiBase || "/api/v1";
  const TZ = body.dataset.timezone || "Asia/Shanghai";
  const DEV_LOGIN = body.dataset.devLogin === "1";
  const TOKEN_KEY = "linli.leader.token";
  const REQUEST_TIMEOUT_MS = 15000;
  const MAX_PAGES = 50; // 50 × 100 orders a day is far beyond any pickup point

  const STATUS = {
    pending_payment: "待支付", paid: "已支付", shipped: "已发货", arrived: "已到货",
    picked_up: "已提货", cancelled: "已取消", refunded: "已退款",
  };
  const PICKUP_HINT = {
    picked_up: "该订单已经提过货，请勿重复发放商品。",
    shipped: "货品尚未确认到达，请先点击「货已到达」。",
    paid: "该订单尚未发货，货品还没有送到自提点。",
  };
  const COMMISSION_STATUS = { pending: "待结算", settled: "已结算", reversed: "已冲销" };
  // The statuses the day's summary counts (it says which in counted_statuses); this is only the
  // fallback while it is unavailable, so that the list and the stats never count different orders.
  const COUNTED_FALLBACK = ["paid", "shipped", "arrived", "picked_up"];
  const PROBLEM_TEXT = {
    unknown_code: "提货码不存在：本自提点没有使用该提货码的订单。",
    manifest_not_built: "这一天的提货单还没有生成。",
    shortage_exceeds_delivery: "缺货数量超过了发到本自提点的数量（或这些商品已被提走）。",
    invalid_state: "该订单当前不能提货。",
    validation_error: "输入不正确。",
    unauthorized: "登录已失效，请重新登录。",
    forbidden: "没有权限执行此操作。",
    not_found: "找不到请求的内容。",
    rate_limited: "操作太频繁，请稍后再试。",
    network_error: "网络异常，无法连接服务器。",
    timeout: "服务器响应超时，请重试。",
    internal_error: "服务器出错了，请稍后再试。",
    service_unavailable: "服务暂时不可用，请稍后再试。",
  };

  const $ = (sel) => document.querySelector(sel);
  const state = { user: null, orders: [], summary: null, manifest: null, commissionCursor: null, loadSeq: 0,
                  chatMounted: false, scan: null, missing: {} };
  let memoryToken = null; // used when sessionStorage is unavailable

  // ---- small helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c == null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // Fen (integer) → "¥12.34", with integer arithmetic only.
  function yuan(fen) {
    if (typeof fen !== "number" || !Number.isFinite(fen)) return "–";
    const n = Math.trunc(fen);
    const sign = n < 0 ? "-" : "";
    const abs = Math.abs(n);
    return `${sign}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
  }

  function ymdInZone(d) {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" })
        .formatToParts(d).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day}`;
  }

  function todayInZone(offsetDays = 0) {
    // Noon in the zone is never ambiguous, so adding whole days to it is safe.
    const [y, m, d] = ymdInZone(new Date()).split("-").map(Number);
    const t = new Date(Date.UTC(y, m - 1, d + offsetDays, 12));
    return t.toISOString().slice(0, 10);
  }

  function dateTime(value) {
    if (!value) return "–";
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) return String(value);
    return new Intl.DateTimeFormat("zh-CN", {
      timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hour12: false,
    }).format(d);
  }

  function statusBadge(status, labels = STATUS) {
    return el("span", { class: `badge s-${status}` }, labels[status] || status || "–");
  }

  function itemsText(items) {
    if (!Array.isArray(items) || items.length === 0) return "–";
    return items.map((i) => `${i.name || i.product_name || `SKU ${i.sku_id}`} × ${i.qty}`).join("，");
  }

  // What to hand over of an order's lines: what was ordered less what was refunded since (a
  // shortage, after-sales, an operator). Order items carry qty (ordered) and refunded_qty; the
  // manifest's pickup lines carry qty (left) and ordered_qty. A refunded line is marked, and one
  // refunded in full says not to hand it over.
  function leftOf(i) {
    return "ordered_qty" in i ? Number(i.qty) : Number(i.qty) - Number(i.refunded_qty || 0);
  }

  function handoverItems(items) {
    if (!Array.isArray(items) || items.length === 0) return "–";
    const parts = [];
    items.forEach((i, n) => {
      const name = i.name || i.product_name || `SKU ${i.sku_id}`;
      const left = leftOf(i);
      const refunded = Number(i.refunded_qty || 0);
      if (n) parts.push("，");
      if (!refunded) {
        parts.push(el("span", { class: "line", dataset: { skuId: i.sku_id, left } }, `${name} × ${left}`));
      } else if (left <= 0) {
        parts.push(el("span", { class: "line refunded all", dataset: { skuId: i.sku_id, left: 0 } },
          el("s", {}, name), `（已全部退款 ${refunded} 件，勿发）`));
      } else {
        parts.push(el("span", { class: "line refunded", dataset: { skuId: i.sku_id, left } },
          `${name} × ${left}`, el("small", {}, `（已退款 ${refunded} 件）`)));
      }
    });
    return el("span", { class: "handover" }, ...parts);
  }

  function anyRefunded(items) {
    return Array.isArray(items) && items.some((i) => Number(i.refunded_qty || 0) > 0);
  }

  function problemText(p) {
    const base = PROBLEM_TEXT[p.code] || p.title || "请求失败";
    const detail = p.detail && p.detail !== base ? p.detail : "";
    return { base, detail, code: p.code || `http_${p.status}` };
  }

  function showProblem(node, p, prefix) {
    if (!node) return;
    const { base, detail, code } = problemText(p);
    node.replaceChildren(
      el("strong", {}, prefix ? `${prefix}：${base}` : base),
      detail ? el("span", { class: "detail" }, ` ${detail}`) : null,
      el("code", { class: "code" }, code));
    node.hidden = false;
  }

  function clearProblem(node) {
    if (node) { node.hidden = true; node.replaceChildren(); }
  }

  let flashTimer = null;
  function flash(text, kind = "ok") {
    const node = $("#flash");
    node.textContent = text;
    node.className = `flash no-print ${kind}`;
    node.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { node.hidden = true; }, 6000);
  }

  // ---- the API ------------------------------------------------------------------------------

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
  }

  function setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch { /* storage disabled: the session lasts as long as the page */ }
    memoryToken = t || null;
  }

  // Resolves to {ok, status, data} or {ok: false, status, problem}; never rejects.
  async function api(method, path, payload, { auth = true, headers: extra = {} } = {}) {
    const headers = { Accept: "application/json, application/problem+json", ...extra };
    const t = token() || memoryToken;
    if (auth && t) headers.Authorization = `Bearer ${t}`;
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    let resp;
    try {
      resp = await fetch(API + path, {
        method, headers, signal: ctrl.signal, cache: "no-store",
        body: payload === undefined ? undefined : JSON.stringify(payload),
      });
    } catch (e) {
      const code = e && e.name === "AbortError" ? "timeout" : "network_error";
      return { ok: false, status: 0, problem: { status: 0, code, detail: "" } };
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    try {
      const text = await resp.text();
      data = text ? JSON.parse(text) : null;
    } catch { data = null; }
    if (resp.ok) return { ok: true, status: resp.status, data };
    const problem = data && typeof data === "object" && !Array.isArray(data) ? data : {};
    problem.status = problem.status || resp.status;
    problem.code = problem.code || `http_${resp.status}`;
    if (resp.status === 401 && auth) sessionExpired();
    return { ok: false, status: resp.status, problem };
  }

  // ---- login --------------------------------------------------------------------------------

  function showLogin(message) {
    state.user = null;
    $("#console-view").hidden = true;
    $("#who").hidden = true;
    $("#login-view").hidden = false;
    $("#dev-login-form").hidden = !DEV_LOGIN;
    $("#token-login-form").hidden = DEV_LOGIN;
    const err = $("#login-error");
    if (message) { err.textContent = message; err.hidden = false; } else clearProblem(err);
    (DEV_LOGIN ? $("#openid") : $("#token-input")).focus();
  }

  function sessionExpired() {
    if (!state.user) return;
    setToken(null);
    showLogin(PROBLEM_TEXT.unauthorized);
  }

  async function enter() {
    const me = await api("GET", "/me");
    if (!me.ok) {
      setToken(null);
      const { base, detail } = problemText(me.problem);
      showLogin(`无法获取账号信息：${base}${detail ? ` ${detail}` : ""}`);
      return;
    }
    const user = me.data || {};
    if (!Array.isArray(user.roles) || !user.roles.includes("leader")) {
      setToken(null);
      showLogin(`账号「${user.nickname || user.id || ""}」不是团长，无法使用团长工作台。` +
                "请先在小程序中申请成为团长，审核通过后再登录。");
      return;
    }
    state.user = user;
    $("#login-view").hidden = true;
    $("#console-view").hidden = false;
    $("#who").hidden = false;
    $("#who-name").textContent = `${user.nickname || "团长"}（团长编号 ${user.leader_id ?? "–"}）`;
    $("#who-name").title = $("#who-name").textContent; // the header may cut a long name short
    await loadDay();
  }

  async function devLogin(ev) {
    ev.preventDefault();
    const openid = $("#openid").value.trim();
    if (!openid) return;
    const btn = $("#login-submit");
    btn.disabled = true;
    try {
      const r = await api("POST", "/auth/dev-login", { openid }, { auth: false });
      if (!r.ok || !r.data || !r.data.token) {
        const p = r.ok ? { code: "bad_response", detail: "登录响应缺少令牌" } : r.problem;
        const { base, detail } = problemText(p);
        showLogin(`登录失败：${base}${detail ? ` ${detail}` : ""}`);
        return;
      }
      setToken(r.data.token);
      await enter();
    } finally {
      btn.disabled = false;
    }
  }

  async function tokenLogin(ev) {
    ev.preventDefault();
    const t = $("#token-input").value.trim().replace(/^Bearer\s+/i, "");
    if (!t) return;
    setToken(t);
    await enter();
  }

  function logout() {
    stopScan();
    setToken(null);
    state.manifest = null;
    state.missing = {};
    state.chatMounted = false;
    state.orders = [];
    state.summary = null;
    showLogin();
  }

  // ---- orders and summary for a delivery date ----------------------------------------------

  function selectedDate() {
    const v = $("#date").value;
    return /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : todayInZone();
  }

  function setDate(v) {
    $("#date").value = v;
    const url = new URL(location.href);
    url.searchParams.set("date", v);
    history.replaceState(null, "", url);
    loadDay();
  }

  // All of one day's orders at one point; the status filter is applied on the page so that the
  // counts and the printed list always cover the whole day.
  async function fetchAllOrders(day) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const q = new URLSearchParams({ delivery_date: day, limit: "100" });
      if (cursor) q.set("cursor", cursor);
      const r = await api("GET", `/leader/orders?${q}`);
      if (!r.ok) return { ok: false, problem: r.problem, items };
      items.push(...((r.data && r.data.items) || []));
      cursor = r.data && r.data.next_cursor;
      if (!cursor) break;
    }
    return { ok: true, items };
  }

  async function loadDay() {
    if (!state.user) return;
    const seq = ++state.loadSeq; // a slower earlier load must not overwrite a newer one
    const day = selectedDate();
    $("#orders-table").classList.add("loading");
    const [summary, orders] = await Promise.all([
      api("GET", `/leader/summary?delivery_date=${encodeURIComponent(day)}`),
      fetchAllOrders(day),
    ]);
    if (seq !== state.loadSeq || !state.user) return;
    $("#orders-table").classList.remove("loading");

    if (summary.ok) {
      state.summary = summary.data || {};
      clearProblem($("#summary-error"));
    } else {
      state.summary = null;
      showProblem($("#summary-error"), summary.problem, "汇总加载失败");
    }
    if (orders.ok) {
      state.orders = orders.items;
      clearProblem($("#orders-error"));
    } else {
      state.orders = orders.items;
      showProblem($("#orders-error"), orders.problem, "订单加载失败");
    }
    renderSummary();
    renderOrders();
    renderPrintSheet();
    if (currentTab() === "manifest") loadManifest();
  }

  // The day's orders the summary counts: the list's default view, its count and the printed list.
  function countedOrders() {
    const s = state.summary;
    const statuses = s && Array.isArray(s.counted_statuses) ? s.counted_statuses : COUNTED_FALLBACK;
    return state.orders.filter((o) => statuses.includes(o.status));
  }

  function renderSummary() {
    const s = state.summary;
    $("#stat-count").textContent = s ? String(s.order_count ?? "–") : "–";
    $("#stat-total").textContent = s ? yuan(s.total) : "–";
    $("#stat-commission").textContent = s ? yuan(s.commission_expected) : "–";
    const waiting = state.orders.filter((o) => o.status === "arrived").length;
    $("#stat-waiting").textContent = String(waiting);
    const lines = (s && Array.isArray(s.lines)) ? s.lines : [];
    $("#lines-table tbody").replaceChildren(...lines.map((l) =>
      el("tr", {}, el("td", {}, l.name || `SKU ${l.sku_id}`), el("td", { class: "num" }, String(l.qty)))));
    $("#lines-table").hidden = lines.length === 0;
    $("#lines-empty").hidden = lines.length !== 0 || !s;
  }

  function renderOrders() {
    const status = $("#status-filter").value;
    const counted = countedOrders();
    const shown = status === "counted" ? counted
      : status === "all" ? state.orders : state.orders.filter((o) => o.status === status);
    const rows = shown.map((o) => el("tr", { dataset: { orderId: o.id, status: o.status } },
      el("td", {}, `#${o.id}`),
      el("td", {}, (o.buyer && o.buyer.nickname) || "–"),
      el("td", { class: "items" }, handoverItems(o.items), o.note ? el("div", { class: "note" }, `备注：${o.note}`) : null),
      el("td", { class: "num" }, yuan(o.total)),
      el("td", {}, statusBadge(o.status))));
    $("#orders-table tbody").replaceChildren(...rows);
    $("#orders-table").hidden = rows.length === 0;
    $("#orders-empty").hidden = rows.length !== 0;
    $("#orders-empty").textContent = state.orders.length ? "没有该状态的订单。" : "这一天还没有订单。";
    // The default view is exactly what the stats count; any other view says how it relates to it.
    $("#orders-count").textContent = status === "counted" ? `（${rows.length} 单）`
      : `（${rows.length} 单，其中有效订单 ${counted.length} 单）`;
    const shipped = state.orders.filter((o) => o.status === "shipped").length;
    const receive = $("#receive");
    receive.textContent = shipped ? `货已到达（${shipped} 单）` : "货已到达";
  }

  function renderPrintSheet() {
    const day = selectedDate();
    const s = state.summary;
    // The pickup list: orders that are (or will be) handed over at the point that day.
    const printable = countedOrders().sort((a, b) => a.id - b.id);
    $("#print-date").textContent = day;
    $("#print-meta").textContent =
      `团长：${(state.user && state.user.nickname) || "–"}　订单数：${printable.length}` +
      (s ? `　订单金额：${yuan(s.total)}` : "");
    const lines = (s && Array.isArray(s.lines)) ? s.lines : [];
    $("#print-lines tbody").replaceChildren(...lines.map((l) =>
      el("tr", {}, el("td", {}, l.name || `SKU ${l.sku_id}`), el("td", { class: "num" }, String(l.qty)))));
    $("#print-orders tbody").replaceChildren(...printable.map((o, i) => el("tr", {},
      el("td", {}, String(i + 1)),
      el("td", {}, `#${o.id}`),
      el("td", {}, (o.buyer && o.buyer.nickname) || "–"),
      el("td", { class: "items" }, handoverItems(o.items), o.note ? el("div", { class: "note" }, `备注：${o.note}`) : null),
      el("td", {}, STATUS[o.status] || o.status),
      el("td", { class: "sign" }, o.status === "picked_up" ? "✓" : ""))));
    $("#print-foot").textContent = `打印时间：${dateTime(new Date().toISOString())}`;
  }

  async function receive() {
    const day = selectedDate();
    const shipped = state.orders.filter((o) => o.status === "shipped").length;
    // It notifies buyers and cannot be undone: asked first.
    const question = shipped
      ? `确认 ${day} 的货已到达自提点？\n${shipped} 个已发货订单将变为「已到货」，并通知买家来取货。`
      : `确认 ${day} 的货已到达自提点？\n已发货的订单将变为「已到货」，并通知买家来取货。`;
    if (!window.confirm(question)) return;
    const btn = $("#receive");
    btn.disabled = true;
    try {
      const r = await api("POST", `/leader/deliveries/${encodeURIComponent(day)}/receive`);
      if (!r.ok) {
        const { base, detail } = problemText(r.problem);
        flash(`确认到货失败：${base}${detail ? ` ${detail}` : ""}`, "error");
        return;
      }
      const n = (r.data && r.data.arrived) || 0;
      flash(n ? `已确认到货：${n} 个订单变为「已到货」，已通知买家。` : `${day} 没有待收货（已发货）的订单。`, n ? "ok" : "info");
      await loadDay();
    } finally {
      btn.disabled = false;
    }
  }

  // ---- the manifest: receiving list (with shortages), pickup list, CSV and PDF --------------

  async function loadManifest() {
    if (!state.user) return;
    const day = selectedDate();
    const r = await api("GET", `/leader/manifests/${encodeURIComponent(day)}`);
    if (day !== selectedDate()) return; // the date changed while this was loading
    state.manifest = r.ok ? r.data : null;
    const notBuilt = !r.ok && r.problem.code === "manifest_not_built";
    if (r.ok || notBuilt) clearProblem($("#manifest-error"));
    else showProblem($("#manifest-error"), r.problem, "提货单加载失败");
    $("#manifest-empty").hidden = !notBuilt;
    renderManifest();
  }

  function renderManifest() {
    const m = state.manifest;
    $("#receiving-card").hidden = !m;
    $("#pickups-card").hidden = !m;
    $("#manifest-csv").disabled = !m;
    $("#manifest-pdf").disabled = !m;
    $("#manifest-meta").textContent = m
      ? `${m.delivery_date}　${(m.pickup_point && m.pickup_point.name) || ""}　第 ${m.version} 版　生成于 ${dateTime(m.built_at)}`
      : "";
    if (!m) return;
    const receiving = Array.isArray(m.receiving) ? m.receiving : [];
    $("#receiving-table tbody").replaceChildren(...receiving.map((l) => el("tr", { dataset: { skuId: l.sku_id } },
      el("td", {}, l.name || `SKU ${l.sku_id}`),
      el("td", { class: "num" }, String(l.qty)),
      el("td", { class: "num" }, el("input", {
        type: "number", class: "missing", min: "0", max: String(l.qty), step: "1", inputmode: "numeric",
        "aria-label": `${l.name || l.sku_id} 缺货数量`, placeholder: "0", dataset: { skuId: l.sku_id, qty: l.qty },
        // what this page already reported for the day stays in its box (a total, not an increment)
        value: state.missing[`${m.delivery_date}:${l.sku_id}`],
      })))));
    const pickups = Array.isArray(m.pickups) ? m.pickups : [];
    $("#pickups-count").textContent = `（${pickups.length} 单）`;
    $("#pickups-table tbody").replaceChildren(...pickups.map((p) => el("tr", { dataset: { orderId: p.order_id } },
      el("td", {}, `#${p.order_id}`),
      el("td", {}, (p.buyer && p.buyer.nickname) || "–",
         p.buyer && p.buyer.phone ? el("div", { class: "note" }, p.buyer.phone) : null),
      el("td", { class: "items" }, handoverItems(p.items)),
      el("td", { class: "note-cell" }, p.note || ""))));
  }

  // Goods arrived, with what was missing: shipped orders become arrived, then the missing units
  // (totals per SKU) are reported and refunded. Asked first: both tell buyers and move money.
  async function confirmArrival() {
    const day = selectedDate();
    const box = $("#shortage-result");
    clearProblem($("#arrival-error"));
    box.replaceChildren();
    const lines = [];
    for (const input of document.querySelectorAll("#receiving-table input.missing")) {
      const raw = input.value.trim();
      if (raw === "") continue;
      const n = Number(raw);
      const max = Number(input.dataset.qty);
      if (!Number.isInteger(n) || n < 0 || n > max) {
        showProblem($("#arrival-error"), { code: "validation_error", detail: `缺货数量应为 0 到 ${max} 的整数。` });
        input.focus();
        return;
      }
      if (n > 0) lines.push({ sku_id: Number(input.dataset.skuId), missing_qty: n, name: input.getAttribute("aria-label") });
    }
    const names = lines.map((l) => `${l.name.replace(/ 缺货数量$/, "")} 缺 ${l.missing_qty}`).join("；");
    const question = `确认 ${day} 的货已到达自提点？\n已发货的订单将变为「已到货」，并通知买家来取货。` +
      (lines.length ? `\n缺货：${names}。\n缺少的商品将按最晚付款的订单优先退款给买家。` : "\n没有填写缺货。");
    if (!window.confirm(question)) return;
    const btn = $("#confirm-arrival");
    btn.disabled = true;
    try {
      const got = await api("POST", `/leader/deliveries/${encodeURIComponent(day)}/receive`);
      if (!got.ok) {
        showProblem($("#arrival-error"), got.problem, "确认到货失败");
        return;
      }
      const arrived = (got.data && got.data.arrived) || 0;
      const parts = [el("h3", {}, arrived ? `✓ 已确认到货：${arrived} 个订单变为「已到货」` : "✓ 已确认到货")];
      if (lines.length) {
        const r = await api("POST", `/leader/deliveries/${encodeURIComponent(day)}/shortages`,
          { lines: lines.map(({ sku_id, missing_qty }) => ({ sku_id, missing_qty })) });
        if (!r.ok) {
          showProblem($("#arrival-error"), r.problem, "缺货上报失败");
        } else {
          for (const l of lines) state.missing[`${day}:${l.sku_id}`] = String(l.missing_qty);
          const refunds = (r.data && r.data.refunds) || [];
          const sum = refunds.reduce((a, x) => a + (x.amount || 0), 0);
          parts.push(refunds.length
            ? el("p", {}, `缺货已上报：${refunds.length} 个订单共退款 ${yuan(sum)}，已通知买家。`)
            : el("p", {}, "这些缺货之前已经上报并退款，没有新增退款。"));
          if (refunds.length) {
            parts.push(el("table", { class: "table", id: "refunds-table" },
              el("thead", {}, el("tr", {}, el("th", {}, "订单号"), el("th", {}, "缺货"), el("th", { class: "num" }, "退款"))),
              el("tbody", {}, refunds.map((x) => el("tr", { dataset: { orderId: x.order_id } },
                el("td", {}, `#${x.order_id}`),
                el("td", { class: "items" }, itemsText(x.items)),
                el("td", { class: "num" }, yuan(x.amount)))))));
          }
        }
      }
      box.replaceChildren(el("div", { class: "success" }, parts));
      await loadDay();
    } finally {
      btn.disabled = false;
    }
  }

  // The CSV and the PDF need the token, so they are fetched and handed over as blob URLs.
  async function manifestFile(format) {
    const day = selectedDate();
    const t = token() || memoryToken;
    let resp;
    try {
      resp = await fetch(`${API}/leader/manifests/${encodeURIComponent(day)}?format=${format}`,
        { headers: t ? { Authorization: `Bearer ${t}` } : {}, cache: "no-store" });
    } catch {
      flash(PROBLEM_TEXT.network_error, "error");
      return;
    }
    if (!resp.ok) {
      let p = {};
      try { p = await resp.json(); } catch { p = {}; }
      const { base, detail } = problemText({ status: resp.status, code: p.code || `http_${resp.status}`, ...p });
      flash(`提货单下载失败：${base}${detail ? ` ${detail}` : ""}`, "error");
      return;
    }
    const url = URL.createObjectURL(await resp.blob());
    const name = `提货单-${day}.${format}`;
    if (format === "pdf" && window.open(url, "_blank")) {
      flash("已在新窗口打开 PDF，可直接打印。", "info");
    } else {
      const a = el("a", { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // ---- pickup verification ------------------------------------------------------------------

  async function verifyPickup(ev) {
    ev.preventDefault();
    const input = $("#pickup-code");
    const code = input.value.replace(/\s+/g, "");
    const out = $("#pickup-result");
    if (!/^\d{6}$/.test(code)) {
      out.replaceChildren(el("div", { class: "problem" }, el("strong", {}, "请输入 6 位数字提货码。")));
      input.focus();
      return;
    }
    const payload = { pickup_code: code };
    if ($("#pickup-same-day").checked) payload.delivery_date = selectedDate();
    const btn = $("#pickup-submit");
    btn.disabled = true;
    try {
      const r = await api("POST", "/leader/pickups", payload);
      if (!r.ok) {
        const box = el("div", { class: "problem", role: "alert", dataset: { code: r.problem.code } });
        showProblem(box, r.problem, "核销失败");
        const now = r.problem.status_now;
        if (now) {
          box.append(el("div", {}, `订单 #${r.problem.order_id ?? "?"} 当前状态：${STATUS[now] || now}。`,
                        PICKUP_HINT[now] || ""));
        }
        out.replaceChildren(box);
        input.select();
        return;
      }
      const o = r.data || {};
      const known = state.orders.find((x) => x.id === o.id);
      const buyer = known && known.buyer ? known.buyer.nickname : null;
      out.replaceChildren(el("div", { class: "success", dataset: { orderId: o.id } },
        el("h3", {}, "✓ 核销成功，请将商品交给买家"),
        anyRefunded(o.items)
          ? el("p", { class: "refund-warning", role: "note" }, "部分商品已退款：只交付下列剩余数量，已退款的不要交付。")
          : null,
        el("dl", {},
          el("dt", {}, "订单号"), el("dd", {}, `#${o.id}`),
          buyer ? [el("dt", {}, "买家"), el("dd", {}, buyer)] : null,
          el("dt", {}, "商品"), el("dd", {}, handoverItems(o.items)),
          o.note ? [el("dt", {}, "备注"), el("dd", {}, o.note)] : null,
          el("dt", {}, "金额"), el("dd", {}, yuan(o.total)),
          el("dt", {}, "配送日期"), el("dd", {}, o.delivery_date || "–"),
          el("dt", {}, "状态"), el("dd", {}, statusBadge(o.status)))));
      input.value = "";
      input.focus();
      loadDay();
    } finally {
      btn.disabled = false;
    }
  }

  // Scanning with the camera where the browser can (BarcodeDetector + getUserMedia); typing
  // always works.
  const canScan = () => "BarcodeDetector" in window && !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

  async function startScan() {
    if (state.scan) return;
    let stream;
    let detector;
    try {
      detector = new window.BarcodeDetector();
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) {
      flash(`无法打开摄像头：${(e && e.message) || e}。请手动输入提货码。`, "error");
      return;
    }
    const video = $("#scan-video");
    video.srcObject = stream;
    $("#scanner").hidden = false;
    state.scan = { stream, timer: null };
    try { await video.play(); } catch { /* autoplay refused: frames still arrive */ }
    const tick = async () => {
      if (!state.scan) return;
      try {
        for (const code of await detector.detect(video)) {
          const digits = String(code.rawValue || "").replace(/\D+/g, "");
          if (/^\d{6}$/.test(digits)) {
            stopScan();
            $("#pickup-code").value = digits;
            $("#pickup-form").requestSubmit();
            return;
          }
        }
      } catch { /* a frame that could not be read: try the next */ }
      if (state.scan) state.scan.timer = setTimeout(tick, 250);
    };
    tick();
  }

  function stopScan() {
    if (!state.scan) return;
    clearTimeout(state.scan.timer);
    for (const track of state.scan.stream.getTracks()) track.stop();
    $("#scan-video").srcObject = null;
    $("#scanner").hidden = true;
    state.scan = null;
  }

  // ---- messages (chat.js, when it is there) ---------------------------------------------------

  function openMessages() {
    const panel = document.getElementById("chat-panel");
    const chat = window.LinliChat;
    $("#chat-missing").hidden = !!(chat && typeof chat.mount === "function");
    if (state.chatMounted || !chat || typeof chat.mount !== "function") return;
    try {
      chat.mount(panel, { token: token() || memoryToken, apiBase: API });
      state.chatMounted = true;
    } catch (e) {
      $("#chat-missing").hidden = false;
      console.error("chat mount failed", e);
    }
  }

  // ---- commissions --------------------------------------------------------------------------

  async function loadCommissions(more = false) {
    const q = new URLSearchParams({ limit: "50" });
    if (more && state.commissionCursor) q.set("cursor", state.commissionCursor);
    const r = await api("GET", `/leader/commissions?${q}`);
    if (!r.ok) {
      showProblem($("#comm-error"), r.problem, "佣金加载失败");
      return;
    }
    clearProblem($("#comm-error"));
    const data = r.data || {};
    const totals = data.totals || {};
    $("#comm-pending").textContent = yuan(totals.pending);
    $("#comm-settled").textContent = yuan(totals.settled);
    $("#comm-reversed").textContent = yuan(totals.reversed);
    $("#comm-earned").textContent = yuan(totals.earned);
    const rows = (data.items || []).map((c) => el("tr", { dataset: { orderId: c.order_id } },
      el("td", {}, `#${c.order_id}`),
      el("td", { class: "num" }, yuan(c.amount)),
      el("td", {}, statusBadge(c.status, COMMISSION_STATUS)),
      el("td", {}, c.settled_at ? dateTime(c.settled_at) : `预计 ${dateTime(c.settle_at)}`),
      el("td", {}, dateTime(c.created_at))));
    const tbody = $("#comm-table tbody");
    if (more) tbody.append(...rows); else tbody.replaceChildren(...rows);
    state.commissionCursor = data.next_cursor || null;
    $("#comm-more").hidden = !state.commissionCursor;
    $("#comm-empty").hidden = tbody.children.length !== 0;
    $("#comm-table").hidden = tbody.children.length === 0;
  }

  // ---- after-sales -------------------------------------------------------------------------

  const AFTER_SALE_STATUS = { requested: "待处理", approved: "已同意", refunded: "已退款", rejected: "已拒绝",
                              escalated: "已转平台" };

  async function loadAfterSales() {
    const q = new URLSearchParams({ limit: "100" });
    const status = $("#as-status").value;
    if (status) q.set("status", status);
    const r = await api("GET", `/leader/after-sales?${q}`);
    if (!r.ok) {
      showProblem($("#as-error"), r.problem, "售后加载失败");
      return;
    }
    clearProblem($("#as-error"));
    const items = (r.data && r.data.items) || [];
    $("#as-table tbody").replaceChildren(...items.map((a) => {
      const note = el("input", { type: "text", class: "as-note", maxlength: "500", placeholder: "处理说明（买家可见）",
                                 "aria-label": `售后 #${a.id} 处理说明` });
      const decide = (action) => async () => {
        const res = await api("POST", `/leader/after-sales/${a.id}/${action}`, { note: note.value.trim() || null });
        if (!res.ok) {
          showProblem($("#as-error"), res.problem, "处理失败");
          return;
        }
        loadAfterSales();
        loadDay();
      };
      const actions = a.status === "requested"
        ? [note, el("button", { type: "button", class: "as-approve" }, "同意退款"),
           el("button", { type: "button", class: "as-reject secondary" }, "拒绝")]
        : [a.log && a.log.length ? el("div", { class: "note" }, a.log[a.log.length - 1].note || "") : null];
      const row = el("tr", { dataset: { afterSaleId: a.id, status: a.status } },
        el("td", {}, `#${a.id}`, el("div", { class: "note" }, `订单 #${a.order_id}`)),
        el("td", { class: "items" }, itemsText(a.items)),
        el("td", {}, a.reason, a.description ? el("div", { class: "note" }, a.description) : null,
          ...(a.images || []).map((u, i) => el("a", { href: u, target: "_blank", rel: "noopener" }, ` 图${i + 1}`))),
        el("td", { class: "num" }, yuan(a.amount)),
        el("td", {}, statusBadge(a.status, AFTER_SALE_STATUS)),
        el("td", { class: "as-actions" }, ...actions));
      const approve = row.querySelector(".as-approve");
      if (approve) approve.addEventListener("click", decide("approve"));
      const reject = row.querySelector(".as-reject");
      if (reject) reject.addEventListener("click", decide("reject"));
      return row;
    }));
    $("#as-count").textContent = `（${items.length} 条）`;
    $("#as-empty").hidden = items.length !== 0;
    $("#as-table").hidden = items.length === 0;
  }

  // ---- fans -------------------------------------------------------------------------------

  async function loadFans(more = false) {
    const q = new URLSearchParams({ limit: "50", segment: $("#fans-segment").value });
    if (more && state.fansCursor) q.set("cursor", state.fansCursor);
    const r = await api("GET", `/leader/fans?${q}`);
    if (!r.ok) {
      showProblem($("#fans-error"), r.problem, "粉丝加载失败");
      return;
    }
    clearProblem($("#fans-error"));
    const data = r.data || {};
    const rows = (data.items || []).map((f) => el("tr", { dataset: { userId: f.user_id } },
      el("td", {}, f.nickname || `#${f.user_id}`),
      el("td", {}, f.bound_at ? dateTime(f.bound_at) : "–"),
      el("td", { class: "num" }, String(f.order_count)),
      el("td", { class: "num" }, yuan(f.total_spent)),
      el("td", {}, f.last_order_at ? dateTime(f.last_order_at) : "未下单")));
    const tbody = $("#fans-table tbody");
    if (more) tbody.append(...rows); else tbody.replaceChildren(...rows);
    state.fansCursor = data.next_cursor || null;
    $("#fans-more").hidden = !state.fansCursor;
    $("#fans-count").textContent = tbody.children.length ? `${tbody.children.length}${state.fansCursor ? "+" : ""} 位` : "";
    $("#fans-empty").hidden = tbody.children.length !== 0;
    $("#fans-table").hidden = tbody.children.length === 0;
  }

  // ---- tabs, printing, wiring ---------------------------------------------------------------

  function currentTab() {
    const t = document.querySelector('.tab[aria-selected="true"]');
    return t ? t.dataset.tab : "orders";
  }

  // ---- the counter: a buyer's wallet pay code (付款码) -------------------------------------------

  const COUNTER_TEXT = {
    unknown_code: "付款码无效：请让买家刷新付款码后重新扫描。",
    code_used: "该付款码已使用过，请让买家刷新付款码。",
    code_expired: "付款码已过期，请让买家刷新付款码。",
    insufficient_balance: "买家余额不足。",
    too_many_wrong_codes: "输错付款码次数过多，请稍后再试。",
    charge_refund_closed: "只能在收款当天退款。",
    charge_already_refunded: "这笔收款已经退过款了。",
  };

  function counterProblem(box, problem, prefix) {
    const known = COUNTER_TEXT[problem.code];
    showProblem(box, known ? { ...problem, title: known, detail: "" } : problem, prefix);
    if (known) box.querySelector("strong").textContent = `${prefix}：${known}`;
  }

  function toFen(text) {
    const m = /^(\d{1,7})(?:\.(\d{1,2}))?$/.exec(text.trim());
    if (!m) return null;
    return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
  }

  let counterKey = null; // one Idempotency-Key per sale: a retried tap never charges twice

  async function chargeCode(ev) {
    ev.preventDefault();
    const out = $("#counter-result");
    const code = $("#counter-code").value.replace(/\s+/g, "");
    const amount = toFen($("#counter-amount").value);
    if (!/^\d{18}$/.test(code)) {
      out.replaceChildren(el("div", { class: "problem" }, el("strong", {}, "请输入 18 位数字付款码。")));
      $("#counter-code").focus();
      return;
    }
    if (!amount) {
      out.replaceChildren(el("div", { class: "problem" }, el("strong", {}, "请输入正确的金额（元，最多两位小数）。")));
      $("#counter-amount").focus();
      return;
    }
    const payload = { code, amount };
    const note = $("#counter-note").value.trim();
    if (note) payload.note = note;
    const fingerprint = JSON.stringify(payload);
    if (!counterKey || counterKey.fingerprint !== fingerprint) {
      counterKey = { fingerprint, key: `counter-${Date.now()}-${Math.random().toString(36).slice(2)}` };
    }
    const btn = $("#counter-submit");
    btn.disabled = true;
    try {
      const r = await api("POST", "/leader/pay-code-charges", payload, { headers: { "Idempotency-Key": counterKey.key } });
      if (!r.ok) {
        if (r.status > 0) counterKey = null; // answered: the next tap is a new sale
        const box = el("div", { class: "problem", role: "alert", dataset: { code: r.problem.code } });
        counterProblem(box, r.problem, "收款失败");
        out.replaceChildren(box);
        return;
      }
      counterKey = null;
      const c = r.data || {};
      out.replaceChildren(el("div", { class: "success", dataset: { chargeId: c.id } },
        el("h3", {}, `✓ 收款成功 ${yuan(c.amount)}`),
        el("dl", {},
          el("dt", {}, "顾客"), el("dd", {}, (c.buyer && c.buyer.nickname) || "–"),
          el("dt", {}, "金额"), el("dd", {}, yuan(c.amount)),
          el("dt", {}, "顾客余额"), el("dd", {}, c.balance_after == null ? "–" : yuan(c.balance_after)))));
      $("#counter-code").value = "";
      $("#counter-amount").value = "";
      $("#counter-note").value = "";
      $("#counter-code").focus();
      loadCharges();
    } finally {
      btn.disabled = false;
    }
  }

  async function refundCharge(id) {
    if (!window.confirm(`确定退款收款 #${id}？金额将退回买家余额。`)) return;
    const r = await api("POST", `/leader/pay-code-charges/${id}/refund`);
    if (!r.ok) {
      const box = $("#counter-error");
      counterProblem(box, r.problem, "退款失败");
      return;
    }
    clearProblem($("#counter-error"));
    flash(`已退款 ${yuan(r.data.amount)}，退回买家余额`);
    loadCharges();
  }

  async function loadCharges() {
    const r = await api("GET", "/leader/pay-code-charges?limit=100");
    if (!r.ok) { showProblem($("#counter-error"), r.problem, "加载失败"); return; }
    clearProblem($("#counter-error"));
    const today = todayInZone();
    const rows = ((r.data && r.data.items) || []).filter((c) => c.business_date === today);
    $("#counter-empty").hidden = rows.length > 0;
    $("#counter-table tbody").replaceChildren(...rows.map((c) => el("tr", { dataset: { chargeId: c.id } },
      el("td", {}, dateTime(c.created_at)),
      el("td", {}, (c.buyer && c.buyer.nickname) || "–"),
      el("td", { class: "num" }, yuan(c.amount)),
      el("td", {}, c.note || ""),
      el("td", {}, c.status === "refunded" ? "已退款" : "已收款"),
      el("td", {}, c.status === "charged" ? refundButton(c.id) : ""))));
  }

  function refundButton(id) {
    const btn = el("button", { type: "button", class: "refund" }, "退款");
    btn.addEventListener("click", () => refundCharge(id));
    return btn;
  }

  function showTab(name) {
    for (const t of document.querySelectorAll(".tab")) t.setAttribute("aria-selected", String(t.dataset.tab === name));
    for (const p of document.querySelectorAll(".tab-panel")) p.hidden = p.dataset.panel !== name;
    if (name !== "pickup") stopScan();
    if (name === "pickup") $("#pickup-code").focus();
    if (name === "manifest") loadManifest();
    if (name === "commissions") loadCommissions();
    if (name === "counter") { loadCharges(); $("#counter-code").focus(); }
    if (name === "aftersales") loadAfterSales();
    if (name === "messages") openMessages();
    if (name === "fans") loadFans();
  }

  function init() {
    const fromUrl = new URLSearchParams(location.search).get("date");
    $("#date").value = fromUrl && /^\d{4}-\d{2}-\d{2}$/.test(fromUrl) ? fromUrl : todayInZone();

    $("#dev-login-form").addEventListener("submit", devLogin);
    $("#token-login-form").addEventListener("submit", tokenLogin);
    $("#logout").addEventListener("click", logout);
    $("#date").addEventListener("change", () => setDate(selectedDate()));
    $("#date-today").addEventListener("click", () => setDate(todayInZone()));
    $("#date-tomorrow").addEventListener("click", () => setDate(todayInZone(1)));
    $("#refresh").addEventListener("click", () => loadDay());
    $("#status-filter").addEventListener("change", renderOrders);
    $("#as-status").addEventListener("change", () => loadAfterSales());
    $("#receive").addEventListener("click", receive);
    $("#print").addEventListener("click", () => { renderPrintSheet(); window.print(); });
    $("#pickup-form").addEventListener("submit", verifyPickup);
    $("#counter-form").addEventListener("submit", chargeCode);
    $("#comm-more").addEventListener("click", () => loadCommissions(true));
    $("#fans-segment").addEventListener("change", () => loadFans());
    $("#fans-more").addEventListener("click", () => loadFans(true));
    for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => showTab(t.dataset.tab));
    window.addEventListener("beforeprint", renderPrintSheet);
    $("#confirm-arrival").addEventListener("click", confirmArrival);
    $("#manifest-csv").addEventListener("click", () => manifestFile("csv"));
    $("#manifest-pdf").addEventListener("click", () => manifestFile("pdf"));
    $("#scan-start").hidden = !canScan();
    $("#scan-start").addEventListener("click", startScan);
    $("#scan-stop").addEventListener("click", stopScan);

    if (token()) enter(); else showLogin();
  }

  init();
})();
