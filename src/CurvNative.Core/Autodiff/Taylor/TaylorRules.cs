using System.Numerics;

namespace CurvNative.Autodiff.Taylor;

/// <summary>
/// The building blocks of Taylor rules, written with differentiable operations (so the propagated coefficients are
/// nodes of the autodiff graph). A primitive's rule (<see cref="Primitive{T}.Taylor"/>) is one of three kinds:
/// linear maps (<see cref="Linear"/>), elementwise functions (<see cref="Elementwise"/>, Faa di Bruno) and
/// bilinear products (<see cref="Bilinear"/>, Leibniz). Each handles the collapsed K-th coefficient: its linear part
/// acts on the collapsed input, its nonlinear part is computed per direction and collapsed with the weights w_r.
/// </summary>
public static class TaylorRules
{
    /// <summary>
    /// A linear map z -> L(z): every coefficient maps like the value (z_k -> L(z_k)). <paramref name="map"/> receives a
    /// coefficient and whether it is stacked ([R, ...shape]: the map must then act on each item, for instance with a
    /// leading axis added to its shapes).
    /// </summary>
    public static Jet<T> Linear<T>(Jet<T> a, Var<T> value, Func<Var<T>, bool, Var<T>> map) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // A packed jet is one stack of all its coefficients: the map acts on each item, so once on the stack.
        if (a.Packed is { } packed) return new Jet<T>(a.Spec, value, map(packed.Stack, true), packed.Rows);
        var c = new Var<T>?[a.Spec.Order];
        for (int k = 1; k <= a.Spec.Order; k++)
            if (a[k] is { } x) c[k - 1] = map(x, !a.Spec.IsCollapsed(k));
        return new Jet<T>(a.Spec, value, c);
    }

    /// <summary>
    /// y = f(z) elementwise, given f's derivatives d_j = f^(j)(z_0) for j = 1..K (value shape) as differentiable
    /// expressions (null where a derivative vanishes). Faa di Bruno in derivative form, y_k = sum_j d_j B_{k,j}(z_1, ..., z_{k-j+1}):
    /// y_1 = d_1 z_1; y_2 = d_1 z_2 + d_2 z_1^2; y_3 = d_1 z_3 + 3 d_2 z_1 z_2 + d_3 z_1^3;
    /// y_4 = d_1 z_4 + d_2 (4 z_1 z_3 + 3 z_2^2) + 6 d_3 z_1^2 z_2 + d_4 z_1^4.
    /// Collapsed: y_K = d_1 c_K + sum_{j &gt;= 2} d_j sum_r w_r B_{K,j}(z_{.,r}).
    /// </summary>
    public static Jet<T> Elementwise<T>(Jet<T> a, Var<T> value, IReadOnlyList<Var<T>?> derivatives) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var spec = a.Spec;
        int order = spec.Order;
        if (derivatives.Count < order)
            throw new ArgumentException($"An elementwise Taylor rule of order {order} needs {order} derivatives, got {derivatives.Count}.");
        var c = new Var<T>?[order];
        // Products of coefficients are per direction: a shared first order is expanded to the R directions once.
        var z1 = PerDirection(spec, a[1]);
        for (int k = 1; k <= order; k++)
        {
            bool collapsed = spec.IsCollapsed(k);
            Var<T>? y = Times(a[k], derivatives[0]);
            for (int j = 2; j <= k; j++)
            {
                var bell = derivatives[j - 1] is null ? null : Bell(z1, a, k, j);
                if (bell is null) continue;
                y = Plus(y, F.Mul(collapsed ? Collapse(spec, bell) : bell, derivatives[j - 1]!));
            }
            c[k - 1] = y;
        }
        return new Jet<T>(spec, value, c);
    }

    /// <summary>The partial Bell polynomial B_{k,j} of the stacked coefficients (j &gt;= 2, so only stacked ones enter).</summary>
    private static Var<T>? Bell<T>(Var<T>? z1, Jet<T> a, int k, int j) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Var<T>? z2 = k >= 3 ? a[2] : null, z3 = k >= 4 ? a[3] : null;
        return (k, j) switch
        {
            (2, 2) => Sq(z1),
            (3, 2) => Scaled(Times(z1, z2), 3),
            (3, 3) => Times(Sq(z1), z1),
            (4, 2) => Plus(Scaled(Times(z1, z3), 4), Scaled(Sq(z2), 3)),
            (4, 3) => Scaled(Times(Sq(z1), z2), 6),
            (4, 4) => Sq(Sq(z1)),
            _ => throw new ArgumentOutOfRangeException(nameof(k), $"No Bell polynomial B_{k},{j} (orders up to 4)."),
        };
    }

    /// <summary>
    /// p = a (x) b for a bilinear product (elementwise or matrix product), Leibniz: p_k = sum_j C(k, j) a_j (x) b_{k-j}
    /// with a_0, b_0 the values. <paramref name="jetA"/> or <paramref name="jetB"/> is null when that operand does not
    /// depend on the input (then only its value enters). <paramref name="product"/> receives the operands and whether
    /// each is stacked ([R, ...shape]); its result is stacked when either is.
    /// </summary>
    public static Jet<T> Bilinear<T>(Jet<T>? jetA, Var<T> a0, Jet<T>? jetB, Var<T> b0, Var<T> value,
        Func<Var<T>, bool, Var<T>, bool, Var<T>> product) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var spec = (jetA ?? jetB ?? throw new ArgumentException("Bilinear needs at least one jet.")).Spec;
        // One operand constant: the product is linear in the other, a packed stack maps in one product (one GEMM).
        if (jetB is null && jetA!.Packed is { } pa) return new Jet<T>(spec, value, product(pa.Stack, true, b0, false), pa.Rows);
        if (jetA is null && jetB!.Packed is { } pb) return new Jet<T>(spec, value, product(a0, false, pb.Stack, true), pb.Rows);
        int order = spec.Order;
        var c = new Var<T>?[order];
        for (int k = 1; k <= order; k++)
        {
            bool collapsed = spec.IsCollapsed(k);
            // The linear terms a_k b_0 and a_0 b_k (collapsed inputs when k = K in collapsed mode).
            Var<T>? y = null;
            if (jetA?[k] is { } ak) y = product(ak, !collapsed, b0, false);
            if (jetB?[k] is { } bk) y = Plus(y, product(a0, false, bk, !collapsed));
            // The cross terms, from stacked coefficients only (per direction), collapsed at the top order.
            Var<T>? cross = null;
            for (int j = 1; j < k; j++)
                if (jetA?[j] is { } aj && jetB?[k - j] is { } bj)
                    cross = Plus(cross, Scaled(product(j == 1 ? PerDirection(spec, aj) : aj, true, k - j == 1 ? PerDirection(spec, bj) : bj, true), Binomial(k, j)));
            if (cross is not null) y = Plus(y, collapsed ? Collapse(spec, cross) : cross);
            c[k - 1] = y;
        }
        return new Jet<T>(spec, value, c);
    }

    /// <summary>
    /// The first-order coefficients along the R directions: <paramref name="z1"/> itself, or, for a spec sharing them
    /// (<see cref="JetSpec{T}.FirstOrderMap"/> M [R, B]), z_{1,r} = sum_b M[r, b] z_{1,b} as one product
    /// M [R, B] x z_1 [B, rest].
    /// </summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(z1))]
    public static Var<T>? PerDirection<T>(JetSpec<T> spec, Var<T>? z1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (z1 is null || spec.FirstOrderMap is not { } m) return z1;
        int b = z1.Shape[0], rest = b == 0 ? 0 : z1.Length / b;
        var expanded = F.MatMul(Var<T>.Constant(m), F.Reshape(z1, b, rest));
        return F.Reshape(expanded, [spec.Directions, .. z1.Value.ShapeArray[1..]]);
    }

    /// <summary>sum_r w_r s_r for a stack s [R, ...shape]: the collapse of a per-direction quantity.</summary>
    public static Var<T> Collapse<T>(JetSpec<T> spec, Var<T> stack) where T : unmanaged, IFloatingPointIeee754<T>
        => WeightedSum(stack, spec.CollapseWeights ?? throw new InvalidOperationException("Collapse needs a collapsed jet spec."), spec.UnitWeights);

    /// <summary>sum_r w_r s_r over the leading axis of a stack s [R, ...shape] (a plain sum when <paramref name="unitWeights"/>).</summary>
    public static Var<T> WeightedSum<T>(Var<T> stack, T[] weights, bool unitWeights = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (weights.Length != stack.Shape[0])
            throw new ArgumentException($"Expected {stack.Shape[0]} weights (one per item of the stack), got {weights.Length}.");
        var weighted = stack;
        if (!unitWeights)
        {
            var shape = new int[stack.Rank];
            Array.Fill(shape, 1);
            shape[0] = weights.Length;
            weighted = F.Mul(stack, Var<T>.Constant(Tensors.Tensor<T>.FromArray((T[])weights.Clone(), shape)));
        }
        return F.Sum(weighted, [0]);
    }

    /// <summary>A coefficient broadcast to <paramref name="shape"/> (the value's target shape), keeping its leading
    /// direction axis when stacked (right-aligned broadcasting would otherwise meet R with a value axis).</summary>
    public static Var<T> BroadcastCoefficient<T>(Var<T> coefficient, bool stacked, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!stacked) return F.BroadcastTo(coefficient, shape);
        return F.BroadcastTo(LiftStack(coefficient, shape.Length), [coefficient.Shape[0], .. shape]);
    }

    /// <summary>A stack [R, ...s] viewed as [R, 1, ..., 1, ...s] with <paramref name="rank"/> axes after R.</summary>
    public static Var<T> LiftStack<T>(Var<T> stack, int rank) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int pad = rank - (stack.Rank - 1);
        if (pad <= 0) return stack;
        var s = new int[rank + 1];
        Array.Fill(s, 1);
        s[0] = stack.Shape[0];
        stack.Shape[1..].CopyTo(s.AsSpan(pad + 1));
        return F.Reshape(stack, s);
    }

    // Null is zero: these helpers keep the rules free of special cases.
    private static Var<T>? Times<T>(Var<T>? a, Var<T>? b) where T : unmanaged, IFloatingPointIeee754<T> => a is null || b is null ? null : F.Mul(a, b);
    private static Var<T>? Sq<T>(Var<T>? a) where T : unmanaged, IFloatingPointIeee754<T> => a is null ? null : F.Mul(a, a);
    private static Var<T>? Plus<T>(Var<T>? a, Var<T>? b) where T : unmanaged, IFloatingPointIeee754<T> => a is null ? b : b is null ? a : F.Add(a, b);
    private static Var<T>? Scaled<T>(Var<T>? a, int s) where T : unmanaged, IFloatingPointIeee754<T> => a is null ? null : s == 1 ? a : F.Scale(a, T.CreateTruncating(s));
    private static int Binomial(int n, int k) => k == 0 || k == n ? 1 : Binomial(n - 1, k - 1) + Binomial(n - 1, k);
}
