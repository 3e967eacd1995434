// The authenticated /api/docs page: Swagger UI from the npm package
// swagger-ui-dist (static/vendor/swagger-ui/). "Try it out" uses the
// browser session, so state-changing calls carry the CSRF token.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    requestInterceptor: function (request) {
      request.headers["X-CSRF-Token"] = token;
      return request;
    }
  });
})();
