/* Explore feeds feel endless; every page works the same without this file.
   - The cards are laid out again in as many columns as the CSS asks for (--feed-cols:
     2 on phones, 4 on wide screens), each card to the shortest column, in feed order.
   - The "More" link (a whole next page without JavaScript) loads the next cards in place
     from its data-fragment URL when it scrolls into view or is clicked. */
(function () {
  'use strict';
  var feed = document.querySelector('[data-feed]');
  if (!feed) return;
  var holder = feed.querySelector('.feed-cols');
  var cards = Array.prototype.slice.call(holder.querySelectorAll('li[data-pos]'));
  cards.sort(function (a, b) { return a.dataset.pos - b.dataset.pos; });
  var columns = Array.prototype.slice.call(holder.children);

  function wanted() {
    return parseInt(getComputedStyle(feed).getPropertyValue('--feed-cols'), 10) || 2;
  }
  function place(card) {
    var shortest = columns[0];
    columns.forEach(function (column) { if (column.offsetHeight < shortest.offsetHeight) shortest = column; });
    shortest.appendChild(card);
  }
  function layout() {
    var n = wanted();
    if (columns.length === n) return;
    columns = [];
    holder.replaceChildren();
    for (var i = 0; i < n; i++) {
      var column = document.createElement('ul');
      column.className = 'feed-col';
      holder.appendChild(column);
      columns.push(column);
    }
    cards.forEach(place);
  }
  layout();
  window.addEventListener('resize', function () { window.requestAnimationFrame(layout); });

  var more = feed.querySelector('[data-testid="feed-more"]');
  if (!more || !more.dataset.fragment || !window.fetch || !('IntersectionObserver' in window)) return;
  var label = more.textContent, busy = false, stopped = false;
  var observer = new IntersectionObserver(function (entries) {
    if (entries.some(function (e) { return e.isIntersecting; })) load();
  }, {rootMargin: '800px 0px'});

  function stop() {  // the link stays: following it shows the next page, or why there is none
    stopped = true;
    observer.disconnect();
    more.textContent = label;
    more.removeAttribute('aria-busy');
  }
  function load() {
    if (busy) return;
    busy = true;
    more.textContent = more.dataset.loading;
    more.setAttribute('aria-busy', 'true');
    fetch(more.dataset.fragment, {headers: {accept: 'text/html'}, credentials: 'same-origin'})
      .then(function (r) { return r.text().then(function (text) { return {ok: r.ok && !r.redirected, text: text}; }); })
      .then(function (answer) {
        var template = document.createElement('template');
        template.innerHTML = answer.text;
        var list = template.content.querySelector('[data-testid="feed-fragment"]');
        if (!answer.ok || !list) { stop(); return; }
        Array.prototype.slice.call(list.querySelectorAll('li[data-testid="feed-card"]')).forEach(function (card) {
          cards.push(card);
          place(card);
        });
        if (!list.dataset.nextFragment) {
          observer.disconnect();
          more.parentNode.textContent = more.dataset.end;
          return;
        }
        more.href = list.dataset.nextPage;
        more.dataset.fragment = list.dataset.nextFragment;
        more.textContent = label;
        more.removeAttribute('aria-busy');
        busy = false;
        observer.unobserve(more);  // observing again reports at once if it is still in view
        observer.observe(more);
      })
      .catch(stop);
  }
  more.addEventListener('click', function (event) {
    if (stopped) return;
    event.preventDefault();
    load();
  });
  observer.observe(more);
})();
