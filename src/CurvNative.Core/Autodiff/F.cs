using System.Numerics;
using CurvNative.Autodiff.Taylor;
using CurvNative.Tensors;
using static CurvNative.Tensors.TensorOps;

namespace CurvNative.Autodiff;

/// <summary>
/// Differentiable operations on <see cref="Var{T}"/>: the primitives of the engine and the
/// composites built from them. Each primitive's VJP and JVP are written with these same
/// operations, so every derivative is again differentiable to any order.
/// </summary>
public static partial class F
{
    /// <summary>
    /// Records an application of a primitive defined outside the engine: <paramref name="value"/> is its output for
    /// <paramref name="inputs"/>, and its rules (VJP, JVP, optionally stacked and Taylor rules) come from
    /// <paramref name="primitive"/>. This is how the primitive set is extended.
    /// </summary>
    public static Var<T> Apply<T>(Primitive<T> primitive, Tensor<T> value, params Var<T>[] inputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(primitive);
        ArgumentNullException.ThrowIfNull(value);
        return Var<T>.Record(primitive, value, inputs);
    }

    /// <summary>What a consumer of the graph may rely on about a primitive without seeing its private class.</summary>
    internal enum PrimitiveKind { Other, Linear, MatMul, Add, Subtract }

    /// <summary>The kind of an engine primitive and, for MatMul, its transposition flags.</summary>
    internal static (PrimitiveKind Kind, bool TransA, bool TransB) Describe<T>(Primitive<T> primitive) where T : unmanaged, IFloatingPointIeee754<T>
        => primitive switch
        {
            LinearOp<T> => (PrimitiveKind.Linear, false, true),
            MatMulOp<T> m => (PrimitiveKind.MatMul, m.TransA, m.TransB),
            BinaryOp<T> { Kind: BinaryKind.Add } => (PrimitiveKind.Add, false, false),
            BinaryOp<T> { Kind: BinaryKind.Subtract } => (PrimitiveKind.Subtract, false, false),
            _ => (PrimitiveKind.Other, false, false),
        };

    // ================================================================ elementwise binary

    /// <summary>a + b with NumPy broadcasting.</summary>
    public static Var<T> Add<T>(Var<T> a, Var<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(BinaryOp<T>.Instance(BinaryKind.Add), Binary(a.Value, b.Value, BinaryKind.Add), a, b);

    /// <summary>a - b with NumPy broadcasting.</summary>
    public static Var<T> Sub<T>(Var<T> a, Var<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(BinaryOp<T>.Instance(BinaryKind.Subtract), Binary(a.Value, b.Value, BinaryKind.Subtract), a, b);

    /// <summary>a * b elementwise with NumPy broadcasting.</summary>
    public static Var<T> Mul<T>(Var<T> a, Var<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(BinaryOp<T>.Instance(BinaryKind.Multiply), Binary(a.Value, b.Value, BinaryKind.Multiply), a, b);

    /// <summary>a / b elementwise with NumPy broadcasting.</summary>
    public static Var<T> Div<T>(Var<T> a, Var<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(BinaryOp<T>.Instance(BinaryKind.Divide), Binary(a.Value, b.Value, BinaryKind.Divide), a, b);

    private sealed class BinaryOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private static readonly BinaryOp<T>[] Ops = [new(BinaryKind.Add), new(BinaryKind.Subtract), new(BinaryKind.Multiply), new(BinaryKind.Divide)];
        private readonly BinaryKind _kind;
        private BinaryOp(BinaryKind kind) => _kind = kind;
        public static BinaryOp<T> Instance(BinaryKind kind) => Ops[(int)kind];
        public BinaryKind Kind => _kind;
        public override string Name => _kind.ToString();

        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs)
        {
            var a = node.Inputs[0]; var b = node.Inputs[1];
            Var<T>? ga = null, gb = null;
            switch (_kind)
            {
                case BinaryKind.Add:
                    if (needs[0]) ga = SumTo(g, a.Shape);
                    if (needs[1]) gb = SumTo(g, b.Shape);
                    break;
                case BinaryKind.Subtract:
                    if (needs[0]) ga = SumTo(g, a.Shape);
                    if (needs[1]) gb = SumTo(-g, b.Shape);
                    break;
                case BinaryKind.Multiply:
                    if (needs[0]) ga = SumTo(Mul(g, b), a.Shape);
                    if (needs[1]) gb = SumTo(Mul(g, a), b.Shape);
                    break;
                default:
                    if (needs[0]) ga = SumTo(Div(g, b), a.Shape);
                    if (needs[1]) gb = SumTo(-Div(Mul(g, node.Output), b), b.Shape);
                    break;
            }
            return [ga, gb];
        }

        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
        {
            var a = node.Inputs[0]; var b = node.Inputs[1];
            var shape = node.Output.Shape;
            Var<T>? ta = t[0], tb = t[1];
            switch (_kind)
            {
                case BinaryKind.Add: return Sum2(ta is null ? null : BroadcastTo(ta, shape), tb is null ? null : BroadcastTo(tb, shape));
                case BinaryKind.Subtract: return Sum2(ta is null ? null : BroadcastTo(ta, shape), tb is null ? null : BroadcastTo(-tb, shape));
                case BinaryKind.Multiply: return Sum2(ta is null ? null : BroadcastTo(Mul(ta, b), shape), tb is null ? null : BroadcastTo(Mul(a, tb), shape));
                default:
                    return Sum2(ta is null ? null : BroadcastTo(Div(ta, b), shape),
                                tb is null ? null : BroadcastTo(-Div(Mul(node.Output, tb), b), shape));
            }
        }

        // Stacked rules: the stack broadcasts against the unstacked operand (Stacked.Lift keeps K apart).
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs)
        {
            var a = node.Inputs[0].Value; var b = node.Inputs[1].Value;
            Tensor<T>? ga = null, gb = null;
            switch (_kind)
            {
                case BinaryKind.Add:
                case BinaryKind.Subtract:
                    if (needs[0]) ga = Stacked.SumTo(g, a.Shape);
                    if (needs[1]) gb = Stacked.SumTo(_kind == BinaryKind.Add ? g : Affine(g, -T.One, T.Zero), b.Shape);
                    break;
                case BinaryKind.Multiply:
                    if (needs[0]) ga = Stacked.SumTo(Binary(g, b, BinaryKind.Multiply), a.Shape);
                    if (needs[1]) gb = Stacked.SumTo(Binary(g, a, BinaryKind.Multiply), b.Shape);
                    break;
                default:
                    if (needs[0]) ga = Stacked.SumTo(Binary(g, b, BinaryKind.Divide), a.Shape);
                    if (needs[1]) gb = Stacked.SumTo(Affine(Binary(Binary(g, node.Output.Value, BinaryKind.Multiply), b, BinaryKind.Divide), -T.One, T.Zero), b.Shape);
                    break;
            }
            return [ga, gb];
        }

        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t)
        {
            var a = node.Inputs[0].Value; var b = node.Inputs[1].Value;
            var shape = node.Output.Shape;
            int rank = shape.Length;
            Tensor<T>? ta = t[0] is { } x ? Stacked.Lift(x, rank) : null, tb = t[1] is { } y ? Stacked.Lift(y, rank) : null;
            Tensor<T>? ra, rb;
            switch (_kind)
            {
                case BinaryKind.Add: ra = ta; rb = tb; break;
                case BinaryKind.Subtract: ra = ta; rb = tb is null ? null : Affine(tb, -T.One, T.Zero); break;
                case BinaryKind.Multiply:
                    ra = ta is null ? null : Binary(ta, b, BinaryKind.Multiply);
                    rb = tb is null ? null : Binary(tb, a, BinaryKind.Multiply);
                    break;
                default:
                    ra = ta is null ? null : Binary(ta, b, BinaryKind.Divide);
                    rb = tb is null ? null : Affine(Binary(Binary(tb, node.Output.Value, BinaryKind.Multiply), b, BinaryKind.Divide), -T.One, T.Zero);
                    break;
            }
            return Stacked.Sum2(ra is null ? null : Stacked.BroadcastTo(ra, shape), rb is null ? null : Stacked.BroadcastTo(rb, shape));
        }

        // Add and Subtract are linear in (a, b); Multiply is bilinear (Leibniz); a / b is a times the jet of 1 / b.
        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
        {
            var a = node.Inputs[0]; var b = node.Inputs[1];
            var shape = node.Output.Shape;
            Jet<T>? ja = jets[0], jb = jets[1];
            var spec = (ja ?? jb)!.Spec;
            int rank = shape.Length;
            Var<T> Elementwise(Var<T> x, bool xs, Var<T> y, bool ys) => Mul(xs ? TaylorRules.LiftStack(x, rank) : x, ys ? TaylorRules.LiftStack(y, rank) : y);
            switch (_kind)
            {
                case BinaryKind.Add:
                case BinaryKind.Subtract:
                    // Packed jets of the output's shape (a residual sum, a constant shift): one operation on the stacks.
                    var pa = ja?.Packed; var pb = jb?.Packed;
                    bool fullA = a.Shape.SequenceEqual(shape), fullB = b.Shape.SequenceEqual(shape);
                    if (pa is { } sa && pb is { } sb && fullA && fullB && sa.Rows.SequenceEqual(sb.Rows))
                        return new Jet<T>(spec, node.Output, _kind == BinaryKind.Add ? Add(sa.Stack, sb.Stack) : Sub(sa.Stack, sb.Stack), sa.Rows);
                    if (pa is { } oa && jb is null && fullA) return new Jet<T>(spec, node.Output, oa.Stack, oa.Rows);
                    if (pb is { } ob && ja is null && fullB) return new Jet<T>(spec, node.Output, _kind == BinaryKind.Add ? ob.Stack : -ob.Stack, ob.Rows);
                    var c = new Var<T>?[spec.Order];
                    for (int k = 1; k <= spec.Order; k++)
                    {
                        bool stacked = !spec.IsCollapsed(k);
                        Var<T>? ca = ja?[k] is { } x ? TaylorRules.BroadcastCoefficient(x, stacked, shape) : null;
                        Var<T>? cb = jb?[k] is { } y ? TaylorRules.BroadcastCoefficient(_kind == BinaryKind.Add ? y : -y, stacked, shape) : null;
                        c[k - 1] = ca is null ? cb : cb is null ? ca : Add(ca, cb);
                    }
                    return new Jet<T>(spec, node.Output, c);
                case BinaryKind.Multiply:
                    return TaylorRules.Bilinear(ja, a, jb, b, node.Output, Elementwise);
                default:
                    if (jb is null)
                        return TaylorRules.Linear(ja!, node.Output, (x, xs) => BroadcastTo(Div(xs ? TaylorRules.LiftStack(x, rank) : x, b), xs ? [x.Shape[0], .. node.Output.Value.ShapeArray] : node.Output.Value.ShapeArray));
                    var r0 = Div(Var<T>.Scalar(T.One), b);
                    var r2 = Mul(r0, r0);
                    var d = new Var<T>[spec.Order];
                    d[0] = -r2;
                    for (int j = 2; j <= spec.Order; j++) d[j - 1] = Scale(Mul(d[j - 2], r0), -T.CreateTruncating(j));
                    var reciprocal = TaylorRules.Elementwise(jb, r0, d);
                    return TaylorRules.Bilinear(ja, a, reciprocal, r0, node.Output, Elementwise);
            }
        }
    }

    private static Var<T> Sum2<T>(Var<T>? a, Var<T>? b) where T : unmanaged, IFloatingPointIeee754<T>
        => a is null ? b! : b is null ? a : Add(a, b);

    // ================================================================ scalar affine

    /// <summary>s * x for a scalar constant s.</summary>
    public static Var<T> Scale<T>(Var<T> x, T s) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(new AffineOp<T>(s), Affine(x.Value, s, T.Zero), x);

    /// <summary>x + s for a scalar constant s.</summary>
    public static Var<T> AddScalar<T>(Var<T> x, T s) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(new AffineOp<T>(T.One), Affine(x.Value, T.One, s), x);

    private sealed class AffineOp<T>(T scale) : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "Affine";
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [scale == T.One ? g : Scale(g, scale)];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => scale == T.One ? t[0]! : Scale(t[0]!, scale);
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs) => [Scaled(g)];
        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t) => Scaled(t[0]!);
        private Tensor<T> Scaled(Tensor<T> x) => scale == T.One ? x : Affine(x, scale, T.Zero);
        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets) => TaylorRules.Linear(jets[0]!, node.Output, (c, _) => scale == T.One ? c : Scale(c, scale));
    }

    // ================================================================ elementwise unary

    public static Var<T> Exp<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Exp);
    public static Var<T> Log<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Log);
    public static Var<T> Tanh<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Tanh);
    public static Var<T> Sigmoid<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Sigmoid);
    /// <summary>log(1 + e^x), evaluated without overflow.</summary>
    public static Var<T> Softplus<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Softplus);
    public static Var<T> Relu<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Relu);
    public static Var<T> Erf<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Erf);
    public static Var<T> Sqrt<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Sqrt);
    /// <summary>|x|; its derivative at 0 is taken as 0 (PyTorch's convention).</summary>
    public static Var<T> Abs<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Abs);
    public static Var<T> Square<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Mul(x, x);
    public static Var<T> Sin<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Sin);
    public static Var<T> Cos<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => UnaryPrim(x, UnaryKind.Cos);

    /// <summary>x^p elementwise for a constant exponent p (x &gt; 0 unless p is an integer).</summary>
    public static Var<T> Pow<T>(Var<T> x, T p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var r = Tensor<T>.Uninitialized(x.Value.ShapeArray);
        var s = x.Value.Span; var d = r.Span;
        for (int i = 0; i < s.Length; i++) d[i] = T.Pow(s[i], p);
        return Var<T>.Record(new PowOp<T>(p), r, x);
    }

    private sealed class PowOp<T>(T p) : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "Pow";

        /// <summary>The j-th derivative p (p - 1) ... (p - j + 1) x^(p - j), or null where it vanishes (integer p &lt; j).</summary>
        private Var<T>? Derivative(Var<T> x, int j)
        {
            T c = T.One;
            for (int i = 0; i < j; i++) c *= p - T.CreateTruncating(i);
            return c == T.Zero ? null : Scale(Pow(x, p - T.CreateTruncating(j)), c);
        }

        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [Derivative(node.Inputs[0], 1) is { } d ? Mul(g, d) : Const(Tensor<T>.Zeros(node.Inputs[0].Value.ShapeArray))];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => Derivative(node.Inputs[0], 1) is { } d ? Mul(t[0]!, d) : Const(Tensor<T>.Zeros(node.Output.Value.ShapeArray));
        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
            => TaylorRules.Elementwise(jets[0]!, node.Output, Enumerable.Range(1, jets[0]!.Spec.Order).Select(j => Derivative(node.Inputs[0], j)).ToArray());
    }

    private static Var<T> UnaryPrim<T>(Var<T> x, UnaryKind kind) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(UnaryOp<T>.Instance(kind), Unary(x.Value, kind), x);

    private static Var<T> Const<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T> => Var<T>.Constant(t);

    private sealed class UnaryOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private static readonly UnaryOp<T>[] Ops = Enum.GetValues<UnaryKind>().Select(k => new UnaryOp<T>(k)).ToArray();
        private readonly UnaryKind _kind;
        private UnaryOp(UnaryKind kind) => _kind = kind;
        public static UnaryOp<T> Instance(UnaryKind kind) => Ops[(int)kind];
        public override string Name => _kind.ToString();

        /// <summary>dy/dx as a differentiable expression of the input x and output y.</summary>
        private Var<T> Derivative(Var<T> x, Var<T> y) => _kind switch
        {
            UnaryKind.Exp => y,
            UnaryKind.Log => Div(Var<T>.Scalar(T.One), x),
            UnaryKind.Tanh => Var<T>.Scalar(T.One) - Mul(y, y),
            UnaryKind.Sigmoid => Mul(y, Var<T>.Scalar(T.One) - y),
            UnaryKind.Softplus => Sigmoid(x),
            // The step function's derivative is zero almost everywhere, so the mask is a constant.
            UnaryKind.Relu => Const(Unary(x.Value, UnaryKind.Step)),
            UnaryKind.Abs => Const(Unary(x.Value, UnaryKind.Sign)),
            UnaryKind.Erf => Scale(Exp(-Mul(x, x)), T.CreateTruncating(1.1283791670955126)),
            UnaryKind.Sqrt => Div(Var<T>.Scalar(T.CreateTruncating(0.5)), y),
            UnaryKind.Sin => Cos(x),
            UnaryKind.Cos => -Sin(x),
            _ => throw new InvalidOperationException($"{_kind} has no derivative rule."),
        };

        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs)
        {
            // Fused kernels: tanh's as a differentiable primitive of its own, relu's on the first-order path.
            if (_kind == UnaryKind.Tanh) return [TanhGrad(g, node.Output)];
            if (_kind == UnaryKind.Relu && !GradMode.IsEnabled) return [Const(ReluBackward(g.Value, node.Inputs[0].Value))];
            return [Mul(g, Derivative(node.Inputs[0], node.Output))];
        }

        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => Mul(t[0]!, Derivative(node.Inputs[0], node.Output));

        // Stacked: one derivative tensor, broadcast over the K items (tanh and relu: one fused pass).
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs) => [TimesDerivative(node, g)];
        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t) => TimesDerivative(node, t[0]!);

        internal override bool TryVjpStackedInPlace(Node<T> node, Tensor<T> g)
        {
            switch (_kind)
            {
                case UnaryKind.Tanh: TanhBackwardInPlace(g, node.Output.Value); return true;
                case UnaryKind.Relu: ReluBackwardInPlace(g, node.Inputs[0].Value); return true;
                default: return false;
            }
        }

        /// <summary>f^(1..order) at the input x (output y) as differentiable expressions; null where a derivative is zero.</summary>
        internal Var<T>?[] Derivatives(Var<T> x, Var<T> y, int order)
        {
            var one = T.One;
            Var<T> Poly(Var<T> v, params double[] c) // c[0] + c[1] v + ... by Horner
            {
                Var<T> r = Var<T>.Scalar(T.CreateTruncating(c[^1]));
                for (int i = c.Length - 2; i >= 0; i--) r = AddScalar(Mul(r, v), T.CreateTruncating(c[i]));
                return r;
            }
            var d = new Var<T>?[order];
            switch (_kind)
            {
                case UnaryKind.Exp:
                    for (int j = 0; j < order; j++) d[j] = y;
                    break;
                case UnaryKind.Log:
                {
                    var r = Div(Var<T>.Scalar(one), x); // (-1)^(j-1) (j-1)! / x^j
                    d[0] = r;
                    for (int j = 2; j <= order; j++) d[j - 1] = Scale(Mul(d[j - 2]!, r), -T.CreateTruncating(j - 1));
                    break;
                }
                case UnaryKind.Tanh:
                {
                    // With y' = 1 - y^2: y'' = -2 y y', y''' = (6 y^2 - 2) y', y'''' = (16 y - 24 y^3) y'.
                    var d1 = Var<T>.Scalar(one) - Mul(y, y);
                    double[][] p = [[-0.0, -2], [-2, 0, 6], [0, 16, 0, -24]];
                    d[0] = d1;
                    for (int j = 2; j <= order; j++) d[j - 1] = Mul(Poly(y, p[j - 2]), d1);
                    break;
                }
                case UnaryKind.Sigmoid:
                case UnaryKind.Softplus:
                {
                    // s = sigmoid: s' = s (1 - s), s'' = s' (1 - 2 s), s''' = s' (1 - 6 s + 6 s^2); softplus' = s.
                    var s = _kind == UnaryKind.Sigmoid ? y : Sigmoid(x);
                    var s1 = Mul(s, Var<T>.Scalar(one) - s);
                    double[][] p = [[1, -2], [1, -6, 6], [1, -14, 36, -24]];
                    var sd = new List<Var<T>> { s1 };
                    for (int j = 2; j <= order; j++) sd.Add(Mul(Poly(s, p[j - 2]), s1));
                    if (_kind == UnaryKind.Sigmoid) for (int j = 0; j < order; j++) d[j] = sd[j];
                    else { d[0] = s; for (int j = 1; j < order; j++) d[j] = sd[j - 1]; }
                    break;
                }
                case UnaryKind.Erf:
                {
                    // g = 2/sqrt(pi) e^(-x^2): erf' = g, erf'' = -2 x g, erf''' = (4 x^2 - 2) g, erf'''' = (12 x - 8 x^3) g.
                    var g = Scale(Exp(-Mul(x, x)), T.CreateTruncating(1.1283791670955126));
                    double[][] p = [[0, -2], [-2, 0, 4], [0, 12, 0, -8]];
                    d[0] = g;
                    for (int j = 2; j <= order; j++) d[j - 1] = Mul(Poly(x, p[j - 2]), g);
                    break;
                }
                case UnaryKind.Sqrt:
                {
                    // (x^(1/2))^(j) = c_j / y^(2j-1) with c = 1/2, -1/4, 3/8, -15/16.
                    double[] c = [0.5, -0.25, 0.375, -0.9375];
                    var r = Div(Var<T>.Scalar(one), y);
                    var r2 = Mul(r, r);
                    var pw = r;
                    for (int j = 1; j <= order; j++) { d[j - 1] = Scale(pw, T.CreateTruncating(c[j - 1])); pw = Mul(pw, r2); }
                    break;
                }
                case UnaryKind.Sin:
                case UnaryKind.Cos:
                {
                    // The derivatives cycle through cos, -sin, -cos, sin (sin) or -sin, -cos, sin, cos (cos).
                    var sin = _kind == UnaryKind.Sin ? y : Sin(x);
                    var cos = _kind == UnaryKind.Cos ? y : Cos(x);
                    Var<T>[] cycle = _kind == UnaryKind.Sin ? [cos, -sin, -cos, sin] : [-sin, -cos, sin, cos];
                    for (int j = 0; j < order; j++) d[j] = cycle[j];
                    break;
                }
                case UnaryKind.Relu:
                case UnaryKind.Abs:
                    // Piecewise linear: the first derivative is a constant mask, the higher ones vanish.
                    d[0] = Derivative(x, y);
                    break;
                default:
                    throw new MissingTaylorRuleException(Name);
            }
            return d;
        }

        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
        {
            var jet = jets[0]!;
            var spec = jet.Spec;
            // Collapsed second order: one fused node (one native pass forward, one backward) on the packed jet.
            if (Fused() is { } activation && FusedTaylor2(this, activation, node, jet) is { } fused) return fused;
            return TaylorRules.Elementwise(jet, node.Output, Derivatives(node.Inputs[0], node.Output, spec.Order));
        }

        private Native.TaylorActivation? Fused() => _kind switch
        {
            UnaryKind.Tanh => Native.TaylorActivation.Tanh,
            UnaryKind.Sigmoid => Native.TaylorActivation.Sigmoid,
            UnaryKind.Sin => Native.TaylorActivation.Sin,
            UnaryKind.Cos => Native.TaylorActivation.Cos,
            UnaryKind.Exp => Native.TaylorActivation.Exp,
            _ => null,
        };

        private Tensor<T> TimesDerivative(Node<T> node, Tensor<T> s) => _kind switch
        {
            UnaryKind.Tanh => TanhBackward(s, node.Output.Value),
            UnaryKind.Relu => ReluBackward(s, node.Inputs[0].Value),
            _ => Binary(s, Derivative(node.Inputs[0], node.Output).Value, BinaryKind.Multiply),
        };
    }

    /// <summary>g (1 - y^2), the tanh derivative at y = tanh(x) applied to g, as one differentiable primitive:
    /// its derivatives (d/dg: (1 - y^2), d/dy: -2 g y) are what a Hessian-vector product differentiates, in
    /// one fused pass each instead of three elementwise nodes.</summary>
    private static Var<T> TanhGrad<T>(Var<T> g, Var<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(TanhGradOp<T>.Instance, TanhBackward(g.Value, y.Value), g, y);

    private sealed class TanhGradOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static readonly TanhGradOp<T> Instance = new();
        public override string Name => "TanhGrad";

        /// <summary>-2 g y: the derivative of g (1 - y^2) with respect to y.</summary>
        private static Var<T> DyFactor(Var<T> g, Var<T> y) => Scale(Mul(g, y), -T.CreateTruncating(2));

        public override Var<T>?[] Vjp(Node<T> node, Var<T> u, bool[] needs)
        {
            var g = node.Inputs[0]; var y = node.Inputs[1];
            return [needs[0] ? TanhGrad(u, y) : null, needs[1] ? Mul(u, DyFactor(g, y)) : null];
        }

        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
        {
            var g = node.Inputs[0]; var y = node.Inputs[1];
            return Sum2(t[0] is { } tg ? TanhGrad(tg, y) : null, t[1] is { } ty ? Mul(ty, DyFactor(g, y)) : null);
        }

        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> u, bool[] needs)
        {
            var g = node.Inputs[0].Value; var y = node.Inputs[1].Value;
            // Both partial derivatives are diagonal, so the VJP for y is the tangent along y alone: u (-2 g y).
            return [needs[0] ? TanhBackward(u, y) : null, needs[1] ? TanhBackwardTangent(null, u, g, y) : null];
        }

        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t)
            => TanhBackwardTangent(t[0], t[1], node.Inputs[0].Value, node.Inputs[1].Value);
    }

    // ================================================================ broadcast, reduce, reshape

    /// <summary>Expands x to a larger broadcast-compatible shape.</summary>
    public static Var<T> BroadcastTo<T>(Var<T> x, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Shape.SequenceEqual(shape)) return x;
        var target = Shape.Broadcast(x.Shape, shape);
        Shape.CheckEqual(shape, target, "BroadcastTo");
        return Var<T>.Record(new BroadcastOp<T>(), TensorOps.BroadcastTo(x.Value, shape), x);
    }

    /// <summary>Sums x down to a shape that broadcasts to x's shape (the adjoint of BroadcastTo).</summary>
    public static Var<T> SumTo<T>(Var<T> x, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Shape.SequenceEqual(shape)) return x;
        var target = Shape.Broadcast(x.Shape, shape);
        Shape.CheckEqual(x.Shape, target, "SumTo");
        return Var<T>.Record(new SumToOp<T>(), TensorOps.SumTo(x.Value, shape), x);
    }

    private sealed class BroadcastOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "BroadcastTo";
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [SumTo(g, node.Inputs[0].Shape)];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => BroadcastTo(t[0]!, node.Output.Shape);
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs) => [Stacked.SumTo(g, node.Inputs[0].Shape)];
        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t) => Stacked.BroadcastTo(t[0]!, node.Output.Shape);
        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
            => TaylorRules.Linear(jets[0]!, node.Output, (c, stacked) => TaylorRules.BroadcastCoefficient(c, stacked, node.Output.Shape));
    }

    private sealed class SumToOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "SumTo";
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [BroadcastTo(g, node.Inputs[0].Shape)];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => SumTo(t[0]!, node.Output.Shape);
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs) => [Stacked.BroadcastTo(g, node.Inputs[0].Shape)];
        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t) => Stacked.SumTo(t[0]!, node.Output.Shape);
        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
        {
            var target = node.Output.Value.ShapeArray;
            // A stack sums to [R, 1, ..., target] (target left-padded to the input's rank), then drops the padding.
            var padded = new int[node.Inputs[0].Rank + 1];
            Array.Fill(padded, 1);
            target.CopyTo(padded, padded.Length - target.Length);
            return TaylorRules.Linear(jets[0]!, node.Output, (c, stacked) =>
            {
                if (!stacked) return SumTo(c, target);
                padded[0] = c.Shape[0];
                return Reshape(SumTo(c, padded), [c.Shape[0], .. target]);
            });
        }
    }

    /// <summary>Sum of all elements (shape []).</summary>
    public static Var<T> Sum<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Reshape(SumTo(x, OnesLike(x.Rank)), []);

    /// <summary>Sum over the given axes, keeping them as size 1 when keepDims.</summary>
    public static Var<T> Sum<T>(Var<T> x, int[] axes, bool keepDims = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kept = x.Value.ShapeArray;
        foreach (var a in axes) kept[Shape.Axis(a, x.Rank)] = 1;
        var s = SumTo(x, kept);
        if (keepDims) return s;
        var squeezed = new List<int>();
        var reduced = axes.Select(a => Shape.Axis(a, x.Rank)).ToHashSet();
        for (int i = 0; i < x.Rank; i++) if (!reduced.Contains(i)) squeezed.Add(x.Shape[i]);
        return Reshape(s, [.. squeezed]);
    }

    /// <summary>Mean of all elements.</summary>
    public static Var<T> Mean<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => Scale(Sum(x), T.One / T.CreateTruncating(Math.Max(1, x.Length)));

    /// <summary>Mean over the given axes.</summary>
    public static Var<T> Mean<T>(Var<T> x, int[] axes, bool keepDims = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = 1;
        foreach (var a in axes) count *= x.Shape[Shape.Axis(a, x.Rank)];
        return Scale(Sum(x, axes, keepDims), T.One / T.CreateTruncating(Math.Max(1, count)));
    }

    private static int[] OnesLike(int rank) => Enumerable.Repeat(1, rank).ToArray();

    /// <summary>Same elements, another shape (a view; one entry may be -1).</summary>
    public static Var<T> Reshape<T>(Var<T> x, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var resolved = Shape.Resolve(shape, x.Length, x.Shape);
        if (resolved.AsSpan().SequenceEqual(x.Shape)) return x;
        return Var<T>.Record(new ReshapeOp<T>(), x.Value.Reshape(resolved), x);
    }

    private sealed class ReshapeOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "Reshape";
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [Reshape(g, node.Inputs[0].Value.ShapeArray)];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => Reshape(t[0]!, node.Output.Value.ShapeArray);
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs) => [g.Reshape(Stacked.Shape(g.Shape[0], node.Inputs[0].Shape))];
        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t) => t[0]!.Reshape(Stacked.Shape(t[0]!.Shape[0], node.Output.Shape));
        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
            => TaylorRules.Linear(jets[0]!, node.Output, (c, stacked) => Reshape(c, stacked ? Stacked.Shape(c.Shape[0], node.Output.Shape) : node.Output.Value.ShapeArray));
    }

    /// <summary>Permutes axes: result axis i is input axis perm[i].</summary>
    public static Var<T> Permute<T>(Var<T> x, params int[] perm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (perm.Length != x.Rank || perm.Order().Select((p, i) => p == i).Any(ok => !ok))
            throw new ArgumentException($"Permutation [{string.Join(", ", perm)}] is not a permutation of the {x.Rank} axes of shape {Shape.Format(x.Shape)}.");
        return Var<T>.Record(new PermuteOp<T>(perm), TensorOps.Permute(x.Value, perm), x);
    }

    /// <summary>Transpose of a matrix.</summary>
    public static Var<T> Transpose<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Permute(x, 1, 0);

    private sealed class PermuteOp<T>(int[] perm) : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "Permute";
        private int[] Inverse()
        {
            var inv = new int[perm.Length];
            for (int i = 0; i < perm.Length; i++) inv[perm[i]] = i;
            return inv;
        }
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [Permute(g, Inverse())];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => Permute(t[0]!, perm);
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs) => [TensorOps.Permute(g, Shifted(Inverse()))];
        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t) => TensorOps.Permute(t[0]!, Shifted(perm));
        private static int[] Shifted(int[] p) => [0, .. p.Select(i => i + 1)];
        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
            => TaylorRules.Linear(jets[0]!, node.Output, (c, stacked) => Permute(c, stacked ? Shifted(perm) : perm));
    }

    // ================================================================ matrix products

    /// <summary>
    /// op(a) op(b) where op transposes the last two axes when requested. Rank 2 operands, or
    /// rank 3 operands sharing the leading (batch) axis.
    /// </summary>
    public static Var<T> MatMul<T>(Var<T> a, Var<T> b, bool transA = false, bool transB = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Rank != b.Rank || a.Rank is not (2 or 3) || (a.Rank == 3 && a.Shape[0] != b.Shape[0]))
            throw new ArgumentException($"MatMul needs two matrices or two batches of matrices of equal batch size, got {Shape.Format(a.Shape)} and {Shape.Format(b.Shape)}.");
        int ka = transA ? a.Shape[^2] : a.Shape[^1], kb = transB ? b.Shape[^1] : b.Shape[^2];
        if (ka != kb)
            throw new ArgumentException($"MatMul inner dimensions differ: {Shape.Format(a.Shape)}{(transA ? "^T" : "")} times {Shape.Format(b.Shape)}{(transB ? "^T" : "")}.");
        return Var<T>.Record(MatMulOp<T>.Instance(transA, transB), TensorOps.MatMul(a.Value, b.Value, transA, transB), a, b);
    }

    private sealed class MatMulOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        private static readonly MatMulOp<T>[] Ops = [new(false, false), new(false, true), new(true, false), new(true, true)];
        private readonly bool _ta, _tb;
        private MatMulOp(bool ta, bool tb) { _ta = ta; _tb = tb; }
        public static MatMulOp<T> Instance(bool ta, bool tb) => Ops[(ta ? 2 : 0) + (tb ? 1 : 0)];
        public bool TransA => _ta;
        public bool TransB => _tb;
        public override string Name => "MatMul";

        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs)
        {
            var a = node.Inputs[0]; var b = node.Inputs[1];
            Var<T>? ga = null, gb = null;
            if (needs[0]) ga = _ta ? MatMul(b, g, _tb, true) : MatMul(g, b, false, !_tb);
            if (needs[1]) gb = _tb ? MatMul(g, a, true, _ta) : MatMul(a, g, !_ta, false);
            return [ga, gb];
        }

        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
        {
            var a = node.Inputs[0]; var b = node.Inputs[1];
            return Sum2(t[0] is { } ta ? MatMul(ta, b, _ta, _tb) : null, t[1] is { } tb ? MatMul(a, tb, _ta, _tb) : null);
        }

        // Stacked, for matrices: a stacked left operand that is not transposed is one GEMM over K M rows;
        // the other cases are one GEMM per item. Batched matrices take the per-item default.
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs)
        {
            var a = node.Inputs[0].Value; var b = node.Inputs[1].Value;
            if (a.Rank != 2) return base.VjpStacked(node, g, needs);
            int k = g.Shape[0];
            Tensor<T>? ga = null, gb = null;
            if (needs[0]) ga = _ta ? Stacked.ItemProducts(null, k, a.Shape, c => (b, Stacked.Item(g, c)), _tb, true) : Stacked.RowsTimes(g, b, !_tb);
            if (needs[1])
                gb = _tb ? Stacked.ItemProducts(null, k, b.Shape, c => (Stacked.Item(g, c), a), true, _ta)
                         : Stacked.ItemProducts(null, k, b.Shape, c => (a, Stacked.Item(g, c)), !_ta, false);
            return [ga, gb];
        }

        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t)
        {
            var a = node.Inputs[0].Value; var b = node.Inputs[1].Value;
            if (a.Rank != 2) return base.JvpStacked(node, t);
            Tensor<T>? r = null;
            if (t[0] is { } ta)
                r = _ta ? Stacked.ItemProducts(null, ta.Shape[0], node.Output.Shape, c => (Stacked.Item(ta, c), b), true, _tb) : Stacked.RowsTimes(ta, b, _tb);
            if (t[1] is { } tb)
                r = Stacked.ItemProducts(r, tb.Shape[0], node.Output.Shape, c => (a, Stacked.Item(tb, c)), _ta, _tb);
            return r!;
        }

        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
            => TaylorRules.Bilinear(jets[0], node.Inputs[0], jets[1], node.Inputs[1], node.Output, (x, xs, y, ys) => StackedMatMul(x, xs, y, ys, _ta, _tb));
    }

    /// <summary>
    /// op(x) op(y) where either operand may be a stack [R, ...] of matrices or of batches of matrices (the result is then
    /// stacked). A stacked left operand times a plain matrix is one GEMM over R m rows; otherwise the plain operand is
    /// broadcast over R and the product is a batched one.
    /// </summary>
    internal static Var<T> StackedMatMul<T>(Var<T> x, bool xs, Var<T> y, bool ys, bool transX, bool transY) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!xs && !ys) return MatMul(x, y, transX, transY);
        if (xs && !ys && !transX && x.Rank == 3 && y.Rank == 2)
        {
            int r = x.Shape[0], m = x.Shape[1];
            var p = MatMul(Reshape(x, r * m, x.Shape[2]), y, false, transY);
            return Reshape(p, r, m, p.Shape[1]);
        }
        int k = xs ? x.Shape[0] : y.Shape[0];
        Var<T> Batch(Var<T> v, bool stacked)
        {
            var full = stacked ? v : BroadcastTo(Reshape(v, [1, .. v.Value.ShapeArray]), [k, .. v.Value.ShapeArray]);
            return full.Rank == 4 ? Reshape(full, k * full.Shape[1], full.Shape[2], full.Shape[3]) : full;
        }
        var product = MatMul(Batch(x, xs), Batch(y, ys), transX, transY);
        var plainRank = (xs ? x.Rank : x.Rank + 1);
        return plainRank == 4 ? Reshape(product, k, product.Shape[0] / k, product.Shape[1], product.Shape[2]) : product;
    }

    // ================================================================ softmax family

    /// <summary>log softmax along the last axis, max-shifted for stability.</summary>
    public static Var<T> LogSoftmax<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Rank == 0) throw new ArgumentException("LogSoftmax needs at least one axis.");
        return Var<T>.Record(new LogSoftmaxOp<T>(), TensorOps.LogSoftmax(x.Value), x);
    }

    /// <summary>softmax along the last axis.</summary>
    public static Var<T> Softmax<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T> => Exp(LogSoftmax(x));

    private sealed class LogSoftmaxOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "LogSoftmax";
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs)
        {
            // d/dx = g - softmax * sum(g) along the last axis.
            var p = Exp(node.Output);
            return [Sub(g, Mul(p, Sum(g, [-1], keepDims: true)))];
        }
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
        {
            var p = Exp(node.Output);
            return Sub(t[0]!, Sum(Mul(p, t[0]!), [-1], keepDims: true));
        }
    }

    /// <summary>log(sum(exp(x))) along the last axis (that axis is removed).</summary>
    public static Var<T> LogSumExp<T>(Var<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Rank == 0) throw new ArgumentException("LogSumExp needs at least one axis.");
        return Var<T>.Record(new LogSumExpOp<T>(), TensorOps.LogSumExp(x.Value), x);
    }

    private sealed class LogSumExpOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "LogSumExp";
        private static Var<T> Softmax(Node<T> node)
        {
            var x = node.Inputs[0];
            var keep = x.Value.ShapeArray; keep[^1] = 1;
            return Exp(Sub(x, Reshape(node.Output, keep)));
        }
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs)
        {
            var keep = node.Inputs[0].Value.ShapeArray; keep[^1] = 1;
            return [Mul(Reshape(g, keep), Softmax(node))];
        }
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => Sum(Mul(Softmax(node), t[0]!), [-1]);
    }

    // ================================================================ gather / scatter

    /// <summary>y[i] = x.flat[index[i]], reshaped to shape. Linear in x.</summary>
    public static Var<T> GatherFlat<T>(Var<T> x, int[] index, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Shape.Size(shape) != index.Length)
            throw new ArgumentException($"GatherFlat: {index.Length} indices do not fill shape {Shape.Format(shape)}.");
        foreach (var i in index)
            if ((uint)i >= (uint)x.Length) throw new ArgumentOutOfRangeException(nameof(index), $"Index {i} is outside a tensor of {x.Length} elements.");
        return Var<T>.Record(new GatherOp<T>(index), TensorOps.GatherFlat(x.Value, index, shape), x);
    }

    /// <summary>Zeros of shape with g[i] added at flat position index[i] (the adjoint of GatherFlat).</summary>
    public static Var<T> ScatterAddFlat<T>(Var<T> g, int[] index, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(new ScatterOp<T>(index), TensorOps.ScatterAddFlat(g.Value, index, shape), g);

    private sealed class GatherOp<T>(int[] index) : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "GatherFlat";
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [ScatterAddFlat(g, index, node.Inputs[0].Value.ShapeArray)];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => GatherFlat(t[0]!, index, node.Output.Value.ShapeArray);

        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs)
            => [TensorOps.ScatterAddFlat(g, index, Stacked.Shape(g.Shape[0], node.Inputs[0].Shape))];
        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t)
            => TensorOps.GatherFlat(t[0]!, index, Stacked.Shape(t[0]!.Shape[0], node.Output.Shape));
    }

    private sealed class ScatterOp<T>(int[] index) : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "ScatterAddFlat";
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [GatherFlat(g, index, node.Inputs[0].Value.ShapeArray)];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => ScatterAddFlat(t[0]!, index, node.Output.Value.ShapeArray);
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs)
            => [TensorOps.GatherFlat(g, index, Stacked.Shape(g.Shape[0], node.Inputs[0].Shape))];
        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t)
            => TensorOps.ScatterAddFlat(t[0]!, index, Stacked.Shape(t[0]!.Shape[0], node.Output.Shape));
    }
}

public static partial class F
{
    // ================================================================ pooling (no padding)

    /// <summary>AvgPool2d on [N, C, H, W] with no padding (PyTorch's default divisor kh*kw).</summary>
    public static Var<T> AvgPool2d<T>(Var<T> x, int kernel, int stride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Rank != 4) throw new ArgumentException($"AvgPool2d expects [N, C, H, W], got {Shape.Format(x.Shape)}.");
        if (kernel < 1 || stride < 1 || kernel > x.Shape[2] || kernel > x.Shape[3])
            throw new ArgumentException($"AvgPool2d kernel {kernel} stride {stride} does not fit input {Shape.Format(x.Shape)}.");
        var outShape = new[] { x.Shape[0], x.Shape[1], (x.Shape[2] - kernel) / stride + 1, (x.Shape[3] - kernel) / stride + 1 };
        return Var<T>.Record(new AvgPoolOp<T>(kernel, stride, false), TensorOps.AvgPool2d(x.Value, kernel, kernel, stride, stride, false, outShape), x);
    }

    private static Var<T> AvgPool2dTranspose<T>(Var<T> g, int kernel, int stride, int[] inputShape) where T : unmanaged, IFloatingPointIeee754<T>
        => Var<T>.Record(new AvgPoolOp<T>(kernel, stride, true), TensorOps.AvgPool2d(g.Value, kernel, kernel, stride, stride, true, inputShape), g);

    private sealed class AvgPoolOp<T>(int kernel, int stride, bool transpose) : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => transpose ? "AvgPool2dTranspose" : "AvgPool2d";
        private Var<T> Apply(Var<T> v, int[] shape) => transpose ? AvgPool2dWithShape(v) : AvgPool2dTranspose(v, kernel, stride, shape);
        private Var<T> AvgPool2dWithShape(Var<T> v) => AvgPool2d(v, kernel, stride);
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [Apply(g, node.Inputs[0].Value.ShapeArray)];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
            => transpose ? AvgPool2dTranspose(t[0]!, kernel, stride, node.Output.Value.ShapeArray) : AvgPool2d(t[0]!, kernel, stride);
    }
}
