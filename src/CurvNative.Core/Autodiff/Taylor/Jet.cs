using System.Numerics;

namespace CurvNative.Autodiff.Taylor;

/// <summary>
/// How a Taylor sweep propagates: the order K of the highest coefficient (1 to 4), the number R of directions, and,
/// for collapsed propagation, the weights w_r of the sum the K-th coefficient is collapsed into.
/// <para>
/// Along a direction v_r each variable z carries the derivatives z_k = d^k/dt^k z(x + t v_r) at t = 0 for k = 1..K.
/// Standard Taylor mode keeps all of them per direction (1 + K R vectors per point); collapsed Taylor mode
/// (Dangel, Siebert, Zeinhofer, Walther 2025, arXiv 2505.13644) keeps z_1..z_{K-1} per direction and only the
/// weighted sum c_K = sum_r w_r z_{K,r} of the K-th, which Faa di Bruno's formula propagates linearly
/// (1 + (K - 1) R + 1 vectors per point). For K = 2, unit directions and unit weights this is the forward Laplacian.
/// </para>
/// </summary>
public sealed class JetSpec<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>A spec for order <paramref name="order"/> and <paramref name="directions"/> directions; with
    /// <paramref name="collapseWeights"/> (length R) the K-th coefficient is collapsed into sum_r w_r z_{K,r}.</summary>
    public JetSpec(int order, int directions, T[]? collapseWeights) : this(order, directions, collapseWeights, null) { }

    /// <summary>
    /// A spec whose first-order coefficients are shared: with <paramref name="sharedFirstOrder"/> M [R, B], direction
    /// r is v_r = sum_b M[r, b] u_b for B basis directions u_b, and since z_1 = J v is linear in the direction, jets hold
    /// z_1 for the B basis directions only ([B, ...shape]); the rules form z_{1,r} = sum_b M[r, b] z_{1,b} where a
    /// product needs it. For the biharmonic's D^2 directions e_i, e_i + e_j, e_i - e_j this propagates D first-order
    /// vectors instead of D^2 (2 + D + 2 D^2 vectors per point collapsed instead of 2 + 3 D^2). Needs order &gt;= 2.
    /// </summary>
    public JetSpec(int order, int directions, T[]? collapseWeights, Tensors.Tensor<T>? sharedFirstOrder)
    {
        if (order is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(order), $"Taylor order must be 1 to 4, got {order}.");
        if (directions < 1) throw new ArgumentOutOfRangeException(nameof(directions), $"A jet needs at least one direction, got {directions}.");
        if (collapseWeights is not null && collapseWeights.Length != directions)
            throw new ArgumentException($"Expected {directions} collapse weights (one per direction), got {collapseWeights.Length}.");
        if (sharedFirstOrder is not null)
        {
            if (order < 2) throw new ArgumentException("Shared first-order coefficients need order >= 2 (the first coefficient must be stacked).");
            if (sharedFirstOrder.Rank != 2 || sharedFirstOrder.Shape[0] != directions || sharedFirstOrder.Shape[1] < 1)
                throw new ArgumentException($"The first-order combination must be [R, B] = [{directions}, B >= 1], got {Tensors.Shape.Format(sharedFirstOrder.Shape)}.");
            FirstOrderMap = sharedFirstOrder.Clone();
        }
        Order = order;
        Directions = directions;
        if (collapseWeights is not null)
        {
            CollapseWeights = (T[])collapseWeights.Clone();
            UnitWeights = CollapseWeights.All(w => w == T.One);
        }
    }

    /// <summary>K, the order of the highest propagated coefficient.</summary>
    public int Order { get; }

    /// <summary>R, the number of directions.</summary>
    public int Directions { get; }

    /// <summary>The weights of the collapsed K-th coefficient, or null for standard (uncollapsed) propagation.</summary>
    public T[]? CollapseWeights { get; }

    /// <summary>Whether the K-th coefficient is collapsed.</summary>
    public bool Collapsed => CollapseWeights is not null;

    /// <summary>Whether all collapse weights are 1 (the collapse is a plain sum).</summary>
    internal bool UnitWeights { get; }

    /// <summary>M [R, B] when the first-order coefficients are held for B basis directions (v_r = sum_b M[r, b] u_b), else null.</summary>
    public Tensors.Tensor<T>? FirstOrderMap { get; }

    /// <summary>The items of a stacked coefficient k: B for a shared first order, R otherwise.</summary>
    public int Items(int k) => k == 1 && FirstOrderMap is { } m ? m.Shape[1] : Directions;

    /// <summary>Whether coefficient k is held collapsed (shape of the value) rather than stacked ([R, ...shape]).</summary>
    public bool IsCollapsed(int k) => Collapsed && k == Order;

    /// <summary>Vectors per point the theory counts for a jet with all coefficients present:
    /// 1 + K R standard, 1 + (K - 1) R + 1 collapsed (with B shared first-order vectors, B replaces one R).</summary>
    public int TheoreticalVectors => 1 + Items(1) + (Order - 2) * Directions + (Collapsed ? 1 : Directions);
}

/// <summary>
/// A Taylor polynomial of a variable along R directions: its value, and coefficients k = 1..K, each either stacked
/// ([R, ...value shape], one per direction) or, for the collapsed K-th, summed (value shape). A null coefficient is
/// zero (for instance the second coefficient of an affine function of the input), which rules skip.
/// Coefficients are derivatives, not normalised Taylor coefficients: z_k = d^k/dt^k z(x + t v) at t = 0.
/// All parts are <see cref="Var{T}"/>, so a jet built while recording is part of the autodiff graph.
/// </summary>
public sealed class Jet<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Var<T>?[] _coefficients;
    private readonly Var<T>? _packed;
    private readonly int[]? _rows;

    /// <summary>A jet with the given value and coefficients (index k - 1 holds coefficient k; null is zero).</summary>
    public Jet(JetSpec<T> spec, Var<T> value, Var<T>?[] coefficients)
    {
        if (coefficients.Length != spec.Order)
            throw new ArgumentException($"A jet of order {spec.Order} needs {spec.Order} coefficients, got {coefficients.Length}.");
        for (int k = 1; k <= spec.Order; k++)
        {
            if (coefficients[k - 1] is not { } c) continue;
            bool collapsed = spec.IsCollapsed(k);
            bool ok = collapsed ? c.Shape.SequenceEqual(value.Shape)
                                : c.Rank == value.Rank + 1 && c.Shape[0] == spec.Items(k) && c.Shape[1..].SequenceEqual(value.Shape);
            if (!ok)
                throw new ArgumentException($"Coefficient {k} of a jet with value {Tensors.Shape.Format(value.Shape)} has shape {Tensors.Shape.Format(c.Shape)}, "
                    + $"expected {(collapsed ? Tensors.Shape.Format(value.Shape) : $"[{spec.Items(k)}, {string.Join(", ", value.Value.ShapeArray)}]")}.");
        }
        Spec = spec;
        Value = value;
        _coefficients = (Var<T>?[])coefficients.Clone();
    }

    /// <summary>
    /// A packed jet: all coefficients in one stack [Q, ...value shape], coefficient k taking <paramref name="rows"/>[k - 1]
    /// consecutive items (R when stacked, 1 when collapsed, 0 when zero), so that a linear map of the jet is one
    /// operation on the stack (one GEMM over Q N rows for a linear layer) and an elementwise rule is one fused node.
    /// </summary>
    internal Jet(JetSpec<T> spec, Var<T> value, Var<T> packed, int[] rows)
    {
        if (rows.Length != spec.Order)
            throw new ArgumentException($"A jet of order {spec.Order} needs {spec.Order} row counts, got {rows.Length}.");
        int q = 0;
        for (int k = 1; k <= spec.Order; k++)
        {
            int expected = spec.IsCollapsed(k) ? 1 : spec.Items(k);
            if (rows[k - 1] != 0 && rows[k - 1] != expected)
                throw new ArgumentException($"Coefficient {k} of a packed jet takes {expected} rows or none, got {rows[k - 1]}.");
            q += rows[k - 1];
        }
        if (q == 0 || packed.Rank != value.Rank + 1 || packed.Shape[0] != q || !packed.Shape[1..].SequenceEqual(value.Shape))
            throw new ArgumentException($"A packed jet with value {Tensors.Shape.Format(value.Shape)} needs a stack of {q} items, got {Tensors.Shape.Format(packed.Shape)}.");
        Spec = spec;
        Value = value;
        _coefficients = new Var<T>?[spec.Order];
        _packed = packed;
        _rows = (int[])rows.Clone();
    }

    /// <summary>The propagation this jet belongs to.</summary>
    public JetSpec<T> Spec { get; }

    /// <summary>The value z_0.</summary>
    public Var<T> Value { get; }

    /// <summary>The packed stack of the coefficients and the items each takes, or null for a jet held per coefficient.</summary>
    internal (Var<T> Stack, int[] Rows)? Packed => _packed is null ? null : (_packed, _rows!);

    /// <summary>Coefficient k (1..K): stacked [R, ...shape], collapsed (shape) for k = K in collapsed mode, or null (zero).</summary>
    public Var<T>? this[int k]
    {
        get
        {
            if (_packed is null || _coefficients[k - 1] is not null || _rows![k - 1] == 0) return _coefficients[k - 1];
            int start = 0;
            for (int j = 1; j < k; j++) start += _rows[j - 1];
            var c = F.Rows(_packed, start, _rows[k - 1]);
            return _coefficients[k - 1] = Spec.IsCollapsed(k) ? F.Reshape(c, Value.Value.ShapeArray) : c;
        }
    }

    /// <summary>Coefficient k as held now (no slice of a packed stack is made; null when not materialized or zero).</summary>
    internal Var<T>? Materialized(int k) => _coefficients[k - 1];

    /// <summary>The coefficients as one stack [Q, ...shape] and the items each takes (a copy unless already packed), or null
    /// when all are zero.</summary>
    internal (Var<T> Stack, int[] Rows)? Pack()
    {
        if (Packed is { } packed) return packed;
        var parts = new List<Var<T>>();
        var rows = new int[Spec.Order];
        for (int k = 1; k <= Spec.Order; k++)
        {
            if (this[k] is not { } c) continue;
            bool collapsed = Spec.IsCollapsed(k);
            parts.Add(collapsed ? F.Reshape(c, [1, .. Value.Value.ShapeArray]) : c);
            rows[k - 1] = collapsed ? 1 : Spec.Items(k);
        }
        return parts.Count == 0 ? null : (F.ConcatRows(parts), rows);
    }

    /// <summary>Vectors per point this jet holds: 1 for the value, R per stacked coefficient, 1 per collapsed one
    /// (zero coefficients are not held).</summary>
    public int Vectors
    {
        get
        {
            int n = 1;
            for (int k = 1; k <= Spec.Order; k++)
                if (_packed is not null ? _rows![k - 1] > 0 : _coefficients[k - 1] is not null) n += Spec.IsCollapsed(k) ? 1 : Spec.Items(k);
            return n;
        }
    }
}
