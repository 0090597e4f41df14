/* The Stripe payment step of the storefront (checkout.html, payment mode "stripe").
 *
 * Pay form ([data-stripe-pay]): mounts Stripe.js's card Element; on submit turns the card
 * into a PaymentMethod id (stripe.createPaymentMethod; Stripe.js stand-ins whose
 * createPaymentMethod gives nothing, such as localstripe's, fall back to createToken and
 * the token's card id), puts it in the hidden "card" field and submits the form: the
 * server confirms the payment with Stripe.
 *
 * Authenticate form ([data-stripe-authenticate], after a confirm that left the payment
 * requires_action): lets Stripe.js run 3-D Secure with the intent's client secret, then
 * submits the form to /checkout/{token}/confirm, where the server asks Stripe how it ended.
 *
 * No card data ever reaches our server; texts come translated in data-msg-* attributes.
 */
(function () {
  "use strict";

  function setup(form) {
    var errorBox = form.querySelector("[data-stripe-error]");
    var button = form.querySelector("button[type=submit]");
    var label = button ? button.textContent : "";

    function showError(message) {
      if (!errorBox) return;
      errorBox.textContent = message || "";
      errorBox.hidden = !message;
    }

    function busy(on, text) {
      if (!button) return;
      button.disabled = on;
      button.setAttribute("aria-busy", on ? "true" : "false");
      button.textContent = on ? text || form.dataset.msgWorking : label;
    }

    if (typeof window.Stripe !== "function") {
      showError(form.dataset.msgUnavailable);
      return null;
    }
    var stripe = window.Stripe(form.dataset.stripeKey, { locale: form.dataset.locale === "zh-CN" ? "zh" : "en" });
    return { stripe: stripe, button: button, showError: showError, busy: busy };
  }

  // Stripe's own error objects carry a message for the shopper (in their language);
  // anything else (a script error) gets our generic text.
  function messageOf(error, fallback) {
    return error && typeof error.message === "string" && error.message && (error.type || error.code) ? error.message : fallback;
  }

  function StripeError(error) {
    this.error = error;
  }

  function payForm(form) {
    var ui = setup(form);
    if (!ui) return;
    var stripe = ui.stripe;
    var field = form.querySelector("input[name=card]");
    var card = stripe.elements().create("card");
    card.mount(form.querySelector("[data-card-element]"));
    card.on("change", function (event) {
      ui.showError(event && event.error ? event.error.message : "");
    });

    async function paymentMethodId() {
      var result = await stripe.createPaymentMethod({ type: "card", card: card });
      if (result && result.error) throw new StripeError(result.error);
      if (result && result.paymentMethod && result.paymentMethod.id) return result.paymentMethod.id;
      // localstripe's stand-in: createPaymentMethod is an empty stub; a card token's
      // card id (card_...) is accepted in place of a PaymentMethod id
      var token = await stripe.createToken(card);
      if (token && token.error) throw new StripeError(token.error);
      if (token && token.token && token.token.card && token.token.card.id) return token.token.card.id;
      throw new Error("no payment method");
    }

    var working = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (working) return;
      working = true;
      ui.showError("");
      ui.busy(true);
      paymentMethodId().then(
        function (id) {
          field.value = id;
          form.submit(); // a plain POST with the CSRF token; the button stays disabled
        },
        function (failure) {
          working = false;
          ui.busy(false);
          ui.showError(failure instanceof StripeError ? messageOf(failure.error, form.dataset.msgFailed) : form.dataset.msgFailed);
        }
      );
    });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) { // back to this page from the browser's cache: usable again
        working = false;
        ui.busy(false);
      }
    });
    ui.button.disabled = false;
  }

  function authenticateForm(form) {
    var ui = setup(form);
    if (!ui) return;
    var stripe = ui.stripe;
    var secret = form.dataset.clientSecret;
    var working = false;

    function authenticate() {
      if (working) return;
      working = true;
      ui.showError("");
      ui.busy(true, form.dataset.msgWaiting);
      var action = typeof stripe.handleNextAction === "function" ? stripe.handleNextAction({ clientSecret: secret }) : stripe.confirmCardPayment(secret);
      // however it ended, the server asks Stripe and shows the outcome
      Promise.resolve(action).then(
        function () { form.submit(); },
        function () { form.submit(); }
      );
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      authenticate();
    });
    ui.button.disabled = false;
    if (form.hasAttribute("data-autostart")) authenticate();
  }

  function start() {
    var pay = document.querySelector("[data-stripe-pay]");
    if (pay) payForm(pay);
    var auth = document.querySelector("[data-stripe-authenticate]");
    if (auth) authenticateForm(auth);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
