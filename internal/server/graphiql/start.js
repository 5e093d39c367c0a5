// Starts GraphiQL on this page. React, ReactDOM and GraphiQL are loaded before this file.
// The endpoint is relative to the page (served at /graphql), so requests stay on this origin.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var fetcher = GraphiQL.createFetcher({
    url: root.dataset.endpoint,
    enableIncrementalDelivery: false,
    headers: { accept: 'application/json' },
  });
  var defaultQuery = [
    '# catalogd: Ctrl-Enter runs the query; the book icon opens the docs.',
    '{',
    '  entity(ref: "component:checkout-service") {',
    '    ref',
    '    title',
    '    relations { type targetRef }',
    '  }',
    '}',
    '',
  ].join('\n');
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultQuery: defaultQuery }),
  );
})();
