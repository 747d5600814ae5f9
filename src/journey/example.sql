-- The abandoned-cart journey (docs/journeys.md, "The abandoned-cart example"), shipped ready to
-- install: its two templates and its definition.

-- The definition: entry on Product Added or Checkout Started for a subscribed profile; a
-- reminder after 10 minutes without an order, a last chance with a discount code 24 hours
-- later; an order anywhere ends the run as a conversion.
CREATE FUNCTION personalize.abandoned_cart_definition(discount_code text DEFAULT 'COMEBACK10')
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'description', format('Abandoned cart: a reminder after 10 minutes, a last chance with the code %s after 24 hours',
                              discount_code),
        'entry', '{"events": [{"event": "Product Added"}, {"event": "Checkout Started"}]}'::jsonb,
        'rule', '{"consent": "subscribed"}'::jsonb,
        'goal', '{"event": "Order Completed"}'::jsonb,
        'start', 'wait_order',
        'steps', jsonb_build_object(
            'wait_order', '{"wait_for": {"event": "Order Completed", "timeout": "10 minutes"},
                            "happened": "done", "timed_out": "reminder"}'::jsonb,
            'reminder', '{"send": {"template": "cart_reminder", "kind": "marketing"}, "next": "wait_again"}'::jsonb,
            'wait_again', '{"wait_for": {"event": "Order Completed", "timeout": "24 hours"},
                            "happened": "done", "timed_out": "last_chance"}'::jsonb,
            'last_chance', jsonb_build_object('send', jsonb_build_object('template', 'cart_last_chance', 'kind', 'marketing'),
                                              'next', 'done'),
            'done', '{"exit": true}'::jsonb))
$$;

-- Installs the example: the templates cart_reminder and cart_last_chance (kept if they exist)
-- and the journey abandoned_cart. Returns the journey's id.
CREATE FUNCTION personalize.install_abandoned_cart(discount_code text DEFAULT 'COMEBACK10')
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF discount_code IS NULL OR discount_code !~ '^[A-Za-z0-9_-]{1,40}$' THEN
        RAISE EXCEPTION 'invalid discount code' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'A discount code is 1 to 40 letters, digits, _ or -.';
    END IF;
    INSERT INTO personalize.templates (name, subject, html_body, text_body) VALUES
      ('cart_reminder',
       '{{ traits.first_name | default: "Hi" }}, your cart is waiting',
       '<h1>You left {{ journey.cart.item_count }} items in your cart</h1><table>'
       '{% for i in journey.cart.items %}<tr><td><img src="{{ i.image_url }}" alt="{{ i.name | default: i.product_id }}"></td>'
       '<td>{{ i.name | default: i.product_id }}</td><td>{{ i.quantity }} × {{ i.price | money: "$" }}</td></tr>{% endfor %}</table>'
       '<p>Total {{ journey.cart.total | money: "$" }}</p>'
       '{% if customer.recommendations %}<h2>You may also like</h2><ul>{% for r in customer.recommendations %}'
       '<li>{{ r.item }}</li>{% endfor %}</ul>{% endif %}'
       '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
       'You left {{ journey.cart.item_count }} items in your cart:
{% for i in journey.cart.items %}- {{ i.name | default: i.product_id }}: {{ i.quantity }} x {{ i.price }}
{% endfor %}Total {{ journey.cart.total }}'),
      ('cart_last_chance',
       'Last chance: ' || discount_code || ' for your cart',
       '<p>Your cart still holds {% for i in journey.cart.items %}{{ i.name | default: i.product_id }}{% unless forloop.last %}, {% endunless %}{% endfor %}.</p>'
       '<p>Use the code <b>' || discount_code || '</b> in the next 24 hours.</p>'
       '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
       'Your cart still holds {% for i in journey.cart.items %}{{ i.name | default: i.product_id }}{% unless forloop.last %}, {% endunless %}{% endfor %}. Code: ' || discount_code)
        ON CONFLICT (name) DO NOTHING;
    RETURN personalize.create_journey('abandoned_cart', personalize.abandoned_cart_definition(discount_code));
END
$$;
COMMENT ON FUNCTION personalize.install_abandoned_cart(text) IS
'Installs the abandoned-cart example journey (abandoned_cart) and its templates cart_reminder and cart_last_chance';

REVOKE ALL ON FUNCTION personalize.abandoned_cart_definition(text), personalize.install_abandoned_cart(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION personalize.abandoned_cart_definition(text), personalize.install_abandoned_cart(text)
    TO personalize_admin;
