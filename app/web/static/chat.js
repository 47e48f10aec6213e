/* The leader console's chat panel (消息): inbox, a conversation, a reply box and an announcement
   box, live over the WebSocket. Plain JS, no build step; under the console's CSP (no inline
   script or style: everything is built with DOM calls and classes from chat.css). Text from the
   API is only ever set with textContent. Usage: LinliChat.mount(container, {token, apiBase}). */
(function () {
  "use strict";

  var script = document.currentScript;
  var cssHref = script && script.src ? script.src.replace(/chat\.js(\?.*)?$/, "chat.css") : "/leader/static/chat.css";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function ensureCss() {
    if (document.querySelector("link[data-linli-chat]")) return;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = cssHref;
    link.setAttribute("data-linli-chat", "1");
    document.head.appendChild(link);
  }

  function timeOf(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString([], {month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit"});
  }

  function summary(m) {
    if (!m) return "";
    if (m.type === "image") return "[图片]";
    if (m.type === "order") return "[订单 #" + m.order_id + "]";
    return m.text || "";
  }

  var STATUS = {pending_payment: "待支付", paid: "已支付", shipped: "已发货", arrived: "已到货",
                picked_up: "已取货", cancelled: "已取消", refunded: "已退款"};

  function mount(container, opts) {
    ensureCss();
    var token = opts.token, apiBase = opts.apiBase || "/api/v1";
    var state = {convs: [], current: null, messages: [], lastSeq: 0, ws: null, retry: 0, closed: false, me: null};

    container.textContent = "";
    var root = el("div", "lc-root");
    var announce = el("form", "lc-announce");
    var annText = el("textarea", "lc-input");
    annText.placeholder = "群发公告给本自提点的所有顾客 (例: 西瓜到了, 下午 4 点前来取)";
    annText.maxLength = 2000;
    annText.rows = 2;
    var annBtn = el("button", "lc-btn", "群发");
    annBtn.type = "submit";
    var annStatus = el("span", "lc-status");
    // To whom: the same segments as the 粉丝 tab (GET /leader/fans?segment=).
    var annSegment = el("select", "lc-segment");
    annSegment.setAttribute("aria-label", "群发对象");
    [["all", "全部顾客"], ["new", "新粉"], ["active", "活跃"], ["lapsed", "流失"]].forEach(function (o) {
      var opt = el("option", null, o[1]);
      opt.value = o[0];
      annSegment.append(opt);
    });
    announce.append(annText, annSegment, annBtn, annStatus);

    var body = el("div", "lc-body");
    var inbox = el("ul", "lc-inbox");
    var pane = el("section", "lc-pane lc-hidden");
    var head = el("div", "lc-head");
    var back = el("button", "lc-back", "‹ 返回");
    back.type = "button";
    var title = el("span", "lc-title");
    head.append(back, title);
    var list = el("ol", "lc-messages");
    var older = el("button", "lc-older", "更早的消息");
    older.type = "button";
    var reply = el("form", "lc-reply");
    var replyText = el("textarea", "lc-input");
    replyText.rows = 2;
    replyText.maxLength = 2000;
    replyText.placeholder = "回复…";
    var replyBtn = el("button", "lc-btn", "发送");
    replyBtn.type = "submit";
    reply.append(replyText, replyBtn);
    pane.append(head, older, list, reply);
    var empty = el("p", "lc-empty", "还没有消息");
    body.append(inbox, pane);
    var live = el("p", "lc-live", "连接中…");
    root.append(announce, live, empty, body);
    container.appendChild(root);

    function api(method, path, data) {
      var init = {method: method, headers: {"Authorization": "Bearer " + token}};
      if (data !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(data);
      }
      return fetch(apiBase + path, init).then(function (r) {
        return r.text().then(function (t) {
          var j = t ? JSON.parse(t) : {};
          if (!r.ok) throw new Error(j.detail || j.title || ("HTTP " + r.status));
          return j;
        });
      });
    }

    // ---- inbox -------------------------------------------------------------------------------
    function renderInbox() {
      inbox.textContent = "";
      empty.classList.toggle("lc-hidden", state.convs.length > 0);
      state.convs.forEach(function (c) {
        var li = el("li", "lc-conv" + (state.current === c.id ? " lc-active" : ""));
        li.tabIndex = 0;
        var top = el("div", "lc-row");
        top.append(el("span", "lc-name", c.other_party.nickname || ("顾客 " + c.other_party.user_id)));
        if (c.unread_count) top.append(el("span", "lc-badge", String(c.unread_count)));
        var last = el("div", "lc-row lc-muted");
        last.append(el("span", "lc-last", summary(c.last_message)),
                    el("span", "lc-time", c.last_message ? timeOf(c.last_message.created_at) : ""));
        li.append(top, last);
        li.addEventListener("click", function () { openConv(c); });
        li.addEventListener("keydown", function (e) { if (e.key === "Enter") openConv(c); });
        inbox.appendChild(li);
      });
    }

    var inboxTimer = null;
    function loadInbox() {
      clearTimeout(inboxTimer);
      inboxTimer = setTimeout(function () {
        api("GET", "/conversations?limit=100").then(function (j) {
          state.convs = j.items;
          renderInbox();
        }).catch(function () {});
      }, 150);
    }

    // ---- a conversation ----------------------------------------------------------------------
    function renderMessage(m) {
      var mine = state.me !== null && m.sender_id === state.me;
      var li = el("li", "lc-msg" + (mine ? " lc-mine" : ""));
      li.dataset.seq = m.seq;
      var bubble = el("div", "lc-bubble");
      if (m.type === "image" && m.image_url) {
        var a = el("a", "lc-img-link", "[图片] 打开");
        a.href = m.image_url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        bubble.appendChild(a);
      } else if (m.type === "order" && m.order) {
        var card = el("div", "lc-card");
        card.append(el("div", "lc-card-title", "订单 #" + m.order.id + " · " + (STATUS[m.order.status] || m.order.status)));
        m.order.items.forEach(function (i) {
          card.append(el("div", "lc-card-line", i.product_name + " " + i.sku_name + " × " + i.qty));
        });
        card.append(el("div", "lc-card-total", "合计 ¥" + (m.order.total / 100).toFixed(2)));
        bubble.appendChild(card);
      } else {
        bubble.textContent = m.text || summary(m);
      }
      if (m.broadcast_id) li.classList.add("lc-broadcast");
      li.append(bubble, el("div", "lc-meta", timeOf(m.created_at)));
      return li;
    }

    function addMessages(items, atTop) {
      var known = {};
      state.messages.forEach(function (m) { known[m.seq] = true; });
      var fresh = items.filter(function (m) { return !known[m.seq]; });
      if (!fresh.length) return;
      state.messages = state.messages.concat(fresh).sort(function (a, b) { return a.seq - b.seq; });
      list.textContent = "";
      state.messages.forEach(function (m) { list.appendChild(renderMessage(m)); });
      state.lastSeq = state.messages[state.messages.length - 1].seq;
      if (!atTop) list.scrollTop = list.scrollHeight;
    }

    function markRead() {
      if (!state.current || !state.lastSeq) return;
      api("POST", "/conversations/" + state.current + "/read", {up_to_seq: state.lastSeq}).then(function () {
        state.convs.forEach(function (c) { if (c.id === state.current) c.unread_count = 0; });
        renderInbox();
      }).catch(function () {});
    }

    function openConv(c) {
      state.current = c.id;
      state.messages = [];
      state.lastSeq = 0;
      list.textContent = "";
      title.textContent = c.other_party.nickname || ("顾客 " + c.other_party.user_id);
      pane.classList.remove("lc-hidden");
      root.classList.add("lc-in-conv");
      api("GET", "/conversations/" + c.id + "/messages?limit=50").then(function (j) {
        older.classList.toggle("lc-hidden", !j.has_more);
        addMessages(j.items);
        markRead();
      });
      renderInbox();
    }

    older.addEventListener("click", function () {
      if (!state.messages.length) return;
      api("GET", "/conversations/" + state.current + "/messages?limit=50&before_seq=" + state.messages[0].seq)
        .then(function (j) { older.classList.toggle("lc-hidden", !j.has_more); addMessages(j.items, true); });
    });

    back.addEventListener("click", function () {
      state.current = null;
      pane.classList.add("lc-hidden");
      root.classList.remove("lc-in-conv");
      renderInbox();
    });

    reply.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = replyText.value.trim();
      if (!text || !state.current) return;
      replyBtn.disabled = true;
      api("POST", "/conversations/" + state.current + "/messages", {type: "text", text: text}).then(function (m) {
        replyText.value = "";
        addMessages([m]);
        loadInbox();
      }).catch(function (err) { alert(err.message); }).then(function () { replyBtn.disabled = false; });
    });

    announce.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = annText.value.trim();
      if (!text) return;
      annBtn.disabled = true;
      annStatus.textContent = "发送中…";
      api("POST", "/leader/broadcasts", {text: text, segment: annSegment.value}).then(function (j) {
        annText.value = "";
        annStatus.textContent = "已发给 " + j.recipients + " 位顾客";
        loadInbox();
      }).catch(function (err) { annStatus.textContent = err.message; })
        .then(function () { annBtn.disabled = false; });
    });

    // ---- live ----------------------------------------------------------------------------
    function connect() {
      if (state.closed) return;
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(proto + location.host + apiBase + "/ws?token=" + encodeURIComponent(token));
      state.ws = ws;
      ws.onmessage = function (ev) {
        var e;
        try { e = JSON.parse(ev.data); } catch (x) { return; }
        if (e.event === "ready") {
          state.retry = 0;
          state.me = e.data && e.data.user_id;
          live.textContent = "实时";
          live.classList.add("lc-on");
          // Catch up whatever was said while the socket was down.
          if (state.current && state.lastSeq) {
            api("GET", "/conversations/" + state.current + "/messages?limit=100&after_seq=" + state.lastSeq)
              .then(function (j) { addMessages(j.items); markRead(); });
          }
          loadInbox();
        } else if (e.event === "message.created") {
          if (e.data.conversation_id === state.current) {
            addMessages([e.data]);
            if (e.data.sender_id !== state.me) markRead();
          }
          loadInbox();
        }
      };
      ws.onclose = function () {
        live.textContent = "重新连接中…";
        live.classList.remove("lc-on");
        if (state.closed) return;
        state.retry = Math.min(state.retry + 1, 6);
        setTimeout(connect, 500 * Math.pow(2, state.retry - 1));
      };
    }

    api("GET", "/me").then(function (me) { state.me = me.id; }).catch(function () {});
    loadInbox();
    connect();
    return {
      unmount: function () {
        state.closed = true;
        if (state.ws) state.ws.close();
        container.textContent = "";
      }
    };
  }

  window.LinliChat = {mount: mount};
})();
