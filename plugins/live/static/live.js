// The live room: plays the HLS stream (hls.js where the browser has no native HLS), ticks
// the deal clocks, and talks to the room's WebSocket (chat, likes, viewers, pins, deals).
(function () {
  "use strict";

  // The stream may not be there yet when the page opens (the room goes live, then the
  // encoder starts) or be too short to play (Chromium's native HLS fails on a one-segment
  // playlist): the player tries again every few seconds instead of staying dead.
  var RETRY_MS = 3000;

  function play(video) {
    if (!video || !video.dataset.src) return;
    var src = video.dataset.src;
    if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.addEventListener("error", function () { setTimeout(function () { video.src = src; }, RETRY_MS); });
      video.src = src;
      return;
    }
    if (window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls({ liveSyncDurationCount: 3 });
      hls.on(window.Hls.Events.ERROR, function (_, data) {
        if (!data.fatal) return;
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else setTimeout(function () { hls.loadSource(src); }, RETRY_MS);
      });
      hls.loadSource(src);
      hls.attachMedia(video);
      video.hls = hls;
    }
  }

  function tick() {
    document.querySelectorAll("time.live-clock[data-until]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.dataset.until) - Date.now()) / 1000));
      el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    });
  }

  function seekLinks(video) {
    document.querySelectorAll("[data-seek]").forEach(function (a) {
      a.addEventListener("click", function (e) {
        e.preventDefault();
        video.currentTime = Number(a.dataset.seek);
        video.play();
      });
    });
    var m = location.hash.match(/^#t=(\d+)/);
    if (m) video.addEventListener("loadedmetadata", function () { video.currentTime = Number(m[1]); }, { once: true });
  }

  function room(article) {
    var messages = article.querySelector("[data-testid=live-messages]");
    var form = article.querySelector("[data-testid=live-chat-form]");
    var error = article.querySelector("[data-testid=live-chat-error]");
    var likeButton = article.querySelector("[data-testid=live-like]");
    var moderation = document.getElementById("live-moderation");
    var canModerate = article.dataset.canModerate === "1";
    var socket, refreshTimer, backoff = 1000, helloSeen = false;

    function send(frame) { if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame)); }

    function addMessage(m) {
      if (m.id && messages.querySelector('[data-id="' + m.id + '"]')) return; // a reconnect's hello repeats recent chat
      var li = document.createElement("li");
      li.dataset.id = m.id;
      li.dataset.testid = "live-message";
      li.setAttribute("data-testid", "live-message");
      var who = document.createElement("b");
      who.textContent = m.name + " ";
      var text = document.createElement("span");
      text.textContent = m.text;
      li.append(who, text);
      if (canModerate && moderation) {
        var tools = moderation.content.firstElementChild.cloneNode(true);
        tools.addEventListener("click", function (e) {
          var act = e.target.dataset.act;
          if (act === "delete") send({ type: "delete", id: m.id });
          else if (act === "mute") send({ type: "mute", user_id: m.user_id, minutes: 10 });
          else if (act === "ban") send({ type: "ban", user_id: m.user_id });
        });
        li.append(" ", tools);
      }
      messages.append(li);
      while (messages.children.length > 200) messages.firstElementChild.remove();
      messages.scrollTop = messages.scrollHeight;
    }

    function refreshPanel() {  // the server renders it; a burst of updates fetches once
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(function () {
        fetch(article.dataset.panel, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
          if (html === null) return;
          var side = document.getElementById("live-side");
          side.innerHTML = html;
          tick();
        });
      }, 150);
    }

    function onMessage(m) {
      switch (m.type) {
        case "hello":
          (m.history || []).forEach(addMessage);
          setCount("live-viewers", m.viewers);
          if (helloSeen) refreshPanel(); // back after a drop: pins and deals may have changed meanwhile
          helloSeen = true;
          break;
        case "chat": addMessage(m); break;
        case "deleted": var gone = messages.querySelector('[data-id="' + m.id + '"]'); if (gone) gone.remove(); break;
        case "viewers": setCount("live-viewers", m.count); break;
        case "likes": setCount("live-likes", m.total); break;
        case "pins": case "deal": refreshPanel(); break;
        case "room": location.reload(); break;
        case "error": if (error) { error.textContent = m.message; error.hidden = false; setTimeout(function () { error.hidden = true; }, 4000); } break;
      }
    }

    function setCount(testid, n) {
      var el = article.querySelector("[data-testid=" + testid + "]");
      if (el && typeof n === "number") el.textContent = n;
    }

    function connect() {
      var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + article.dataset.ws;
      socket = new WebSocket(url);
      socket.onopen = function () { backoff = 1000; if (form) form.hidden = false; if (likeButton) likeButton.hidden = false; };
      socket.onmessage = function (e) {
        var data;
        try { data = JSON.parse(e.data); } catch (_) { return; /* not JSON: a frame we do not know */ }
        // A busy room sends several messages in one frame, as an array.
        (Array.isArray(data) ? data : [data]).forEach(function (message) {
          try { onMessage(message); } catch (_) { /* a message we do not know */ }
        });
      };
      socket.onclose = function (e) {
        if (e.code === 4403 || e.code === 4404) return;
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 30000);
      };
    }

    if (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var input = form.querySelector("input[name=text]");
        if (!input.value.trim()) return;
        send({ type: "chat", text: input.value });
        input.value = "";
      });
    }
    if (likeButton) {
      var pending = 0, likeTimer;
      likeButton.addEventListener("click", function () {
        pending += 1;
        clearTimeout(likeTimer);
        likeTimer = setTimeout(function () { send({ type: "like", count: pending }); pending = 0; }, 300);
      });
    }
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var video = document.getElementById("live-player");
    play(video);
    tick();
    setInterval(tick, 1000);
    if (video && document.querySelector("[data-seek]")) seekLinks(video);
    var article = document.querySelector("article.live-room[data-ws]");
    if (article && article.dataset.roomStatus !== "ended") room(article);
  });
})();
