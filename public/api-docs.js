// /api/docs: starts Swagger UI (swagger-ui.js, from swagger-ui-dist) on the page's element,
// with the OpenAPI document the page names. A separate file: the CSP forbids inline script.
(() => {
  const element = document.getElementById("api-reference");
  if (!element || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    url: element.dataset.document,
    domNode: element,
    deepLinking: true,
    // Tokens pasted into Authorize stay for this tab only.
    persistAuthorization: false,
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
  });
})();
