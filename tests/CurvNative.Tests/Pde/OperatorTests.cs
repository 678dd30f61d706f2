using CurvNative.Autodiff;
using CurvNative.Pde;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Taylor.PdeTestNets;

namespace CurvNative.Tests.Taylor;

/// <summary>Weighted Laplacians against a dense Hessian, the primitive rules on a composite function, float32,
/// chunked evaluation and the error for a primitive without a rule.</summary>
public class OperatorTests
{
    /// <summary>The dense input Hessians [N, D, D] by nested reverse mode (d/dx_j of each gradient component).</summary>
    private static double[,,] DenseHessians(Func<Var<double>, Var<double>> u, Tensor<double> points)
    {
        int n = points.Shape[0], d = points.Shape[1];
        var x = Var<double>.Leaf(points.Clone());
        var g = Autograd.Grad(F.Sum(u(x)), [x], createGraph: true)[0];
        var h = new double[n, d, d];
        for (int i = 0; i < d; i++)
        {
            var mask = Tensor<double>.Zeros(n, d);
            for (int p = 0; p < n; p++) mask.Span[p * d + i] = 1;
            var row = Autograd.Grad(F.Sum(F.Mul(g, Var<double>.Constant(mask))), [x])[0].Value;
            for (int p = 0; p < n; p++)
                for (int j = 0; j < d; j++) h[p, i, j] = row.Span[p * d + j];
        }
        return h;
    }

    private static Tensor<double> TraceCH(double[,,] h, Tensor<double> c)
    {
        int n = h.GetLength(0), d = h.GetLength(1);
        var r = Tensor<double>.Zeros(n);
        for (int p = 0; p < n; p++)
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) r.Span[p] += c.Span[i * d + j] * h[p, j, i];
        return r;
    }

    public static TheoryData<string> Weightings() => new() { "full-rank", "rank-deficient", "indefinite" };

    private static Tensor<double> Weighting(string kind, int d, Random rng)
    {
        var c = Tensor<double>.Zeros(d, d);
        int k = kind == "rank-deficient" ? 2 : d;
        var a = new double[d, k];
        for (int i = 0; i < d; i++) for (int j = 0; j < k; j++) a[i, j] = 2 * rng.NextDouble() - 1;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                for (int q = 0; q < k; q++) c.Span[i * d + j] += a[i, q] * a[j, q] * (kind == "indefinite" && q % 2 == 1 ? -1 : 1);
        if (kind == "full-rank") for (int i = 0; i < d; i++) c.Span[i * d + i] += 0.5;
        return c;
    }

    [Theory]
    [MemberData(nameof(Weightings))]
    public void WeightedLaplacianMatchesDenseHessianInEveryMode(string kind)
    {
        int d = 5;
        var model = Mlp<double>(d, "tanh", seed: 4);
        var x = Points<double>(9, d, seed: 5);
        var c = Weighting(kind, d, new Random(6));
        var expected = TraceCH(DenseHessians(model.Forward, x), c);
        var op = PdeOperator<double>.WeightedLaplacian(c);
        if (kind == "rank-deficient") Assert.Equal(2, op.DirectionCount);
        if (kind == "indefinite") Assert.Contains(-1.0, op.Signs!);
        foreach (var mode in new[] { TaylorMode.Collapsed, TaylorMode.Standard, TaylorMode.Nested })
            AssertRelative(expected, PdeOps.Apply(model, x, op, mode).Values.Value, 1e-12, $"{kind} {mode}");
    }

    [Fact]
    public void FactorFormEqualsMatrixForm()
    {
        int d = 4, r = 3;
        var rng = new Random(8);
        var s = Points<double>(d, r, seed: 9);
        double[] signs = [1, -1, 1];
        var c = Tensor<double>.Zeros(d, d);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                for (int q = 0; q < r; q++) c.Span[i * d + j] += s.Span[i * r + q] * signs[q] * s.Span[j * r + q];
        var model = Mlp<double>(d, "sigmoid", seed: 2);
        var x = Points<double>(7, d, seed: rng.Next());
        var fromFactor = PdeOps.Apply(model, x, PdeOperator<double>.WeightedLaplacian(s, signs)).Values.Value;
        var fromMatrix = PdeOps.Apply(model, x, PdeOperator<double>.WeightedLaplacian(c)).Values.Value;
        AssertRelative(fromMatrix, fromFactor, 1e-12, "factor vs matrix");
        // The identity weighting is the Laplacian.
        var eye = Tensor<double>.Zeros(d, d);
        for (int i = 0; i < d; i++) eye.Span[i * d + i] = 1;
        AssertRelative(PdeOps.Apply(model, x, PdeOperator<double>.Laplacian(d)).Values.Value,
            PdeOps.Apply(model, x, PdeOperator<double>.WeightedLaplacian(eye)).Values.Value, 1e-12, "identity weighting");
    }

    [Fact]
    public void WeightingMustBeSquareAndSymmetric()
    {
        var c = Tensor<double>.FromArray([1, 2, 0, 1], 2, 2);
        Assert.Contains("symmetric", Assert.Throws<ArgumentException>(() => PdeOperator<double>.WeightedLaplacian(c)).Message);
        Assert.Contains("square", Assert.Throws<ArgumentException>(() => PdeOperator<double>.WeightedLaplacian(Tensor<double>.Zeros(2, 3))).Message);
        Assert.Contains("+1 or -1", Assert.Throws<ArgumentException>(() => PdeOperator<double>.WeightedLaplacian(Tensor<double>.Zeros(2, 1), [0.5])).Message);
    }

    /// <summary>u(x) = sum_j [log(1 + x_j^2) / (2 + cos x_j) + sqrt(1 + softplus(x_j)^3) e^(-x_j / 3)] + x^T W x (batched
    /// outer-product MatMul of two input-dependent operands): Div, Log, Cos, Pow, Sqrt, Exp, Softplus, Mul, Sub,
    /// Scale, AddScalar, Reshape, Sum and MatMul with jets on both sides.</summary>
    private static Var<double> Composite(Var<double> x)
    {
        int n = x.Shape[0], d = x.Shape[1];
        var num = F.Log(F.AddScalar(F.Square(x), 1.0));
        var den = F.AddScalar(F.Cos(x), 2.0);
        var second = F.Mul(F.Sqrt(F.AddScalar(F.Pow(F.Softplus(x), 3.0), 1.0)), F.Exp(F.Scale(x, -1.0 / 3)));
        var elementwise = F.Sum(F.Sub(F.Div(num, den), F.Scale(second, -1.0)), [1]);
        var col = F.Reshape(x, n, d, 1);
        var outer = F.MatMul(col, col, transB: true); // [N, D, D]
        var w = Tensor<double>.Zeros(d, d);
        for (int i = 0; i < w.Length; i++) w.Span[i] = Math.Sin(i + 1);
        var quadratic = F.Sum(F.Mul(outer, Var<double>.Constant(w)), [1, 2]);
        return F.Add(elementwise, quadratic);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void CompositeFunctionAllModesAgree(int d)
    {
        var x = Points<double>(5, d, seed: 12);
        foreach (var op in new[] { PdeOperator<double>.Laplacian(d), PdeOperator<double>.Biharmonic(d) })
        {
            var nested = PdeOps.Apply(Composite, x, op, TaylorMode.Nested).Values.Value;
            AssertRelative(nested, PdeOps.Apply(Composite, x, op, TaylorMode.Standard).Values.Value, 1e-11, $"{op.Kind} standard");
            AssertRelative(nested, PdeOps.Apply(Composite, x, op, TaylorMode.Collapsed).Values.Value, 1e-11, $"{op.Kind} collapsed");
        }
    }

    [Theory]
    [InlineData("cos")]
    [InlineData("exp")]
    [InlineData("softplus")]
    public void OtherActivationsAgreeWithNested(string activation)
    {
        var model = Mlp<double>(3, activation, seed: 5);
        var x = Points<double>(6, 3, seed: 13);
        var op = PdeOperator<double>.Laplacian(3);
        AssertRelative(PdeOps.Apply(model, x, op, TaylorMode.Nested).Values.Value, PdeOps.Apply(model, x, op).Values.Value, 1e-12, activation);
    }

    [Fact]
    public void ReluNetworksHaveZeroSecondDerivativesButAGradient()
    {
        var model = Mlp<double>(3, "relu", seed: 5);
        var x = Points<double>(6, 3, seed: 13);
        var result = PdeOps.Apply(model, x, PdeOperator<double>.Laplacian(3));
        Assert.All(result.Values.Value.ToArray(), v => Assert.Equal(0.0, v));
        Assert.All(PdeOps.Apply(model, x, PdeOperator<double>.Biharmonic(3), TaylorMode.Standard).Values.Value.ToArray(), v => Assert.Equal(0.0, v));
        AssertRelative(PdeOps.Apply(model, x, PdeOperator<double>.Laplacian(3), TaylorMode.Nested).Gradient!.Value, result.Gradient!.Value, 1e-13, "relu gradient");
    }

    [Fact]
    public void Float32AgreesWithFloat64()
    {
        var model64 = Mlp<double>(5, "tanh", seed: 3);
        var model32 = Mlp<float>(5, "tanh", seed: 3);
        var x64 = Points<double>(33, 5, seed: 4);
        var x32 = x64.Cast<float>();
        var expected = PdeOps.Apply(model64, x64, PdeOperator<double>.Laplacian(5)).Values.Value;
        foreach (var mode in new[] { TaylorMode.Collapsed, TaylorMode.Standard, TaylorMode.Nested })
            AssertRelative(expected, PdeOps.Apply(model32, x32, PdeOperator<float>.Laplacian(5), mode).Values.Value.Cast<double>(), 1e-4, $"float32 {mode}");
    }

    [Fact]
    public void ChunkedEvaluationEqualsOneBatch()
    {
        var model = Mlp<double>(3, "gelu", seed: 2);
        var x = Points<double>(37, 3, seed: 3);
        foreach (var op in new[] { PdeOperator<double>.Laplacian(3), PdeOperator<double>.Laplacian(3).Stochastic(4, DirectionDistribution.Gaussian, 9) })
        {
            var whole = PdeOps.Apply(model, x, op).Values.Value;
            AssertRelative(whole, PdeOps.Evaluate(model, x, op, batchSize: 37), 1e-13, $"{op} one chunk");
            AssertRelative(whole, PdeOps.Evaluate(model, x, op, batchSize: 5), 1e-13, $"{op} chunks of 5");
        }
    }

    [Theory]
    [InlineData("tanh")]
    [InlineData("gelu")]
    [InlineData("sin")]
    public void ValuesSweepRecyclesOnlyDeadBuffers(string activation)
    {
        // The values-only sweep hands dead coefficient buffers back to a tensor pool; poisoned (NaN on return), any
        // buffer still read afterwards (a view in a live jet, a residual branch's stack) would show as NaN.
        var model = Mlp<double>(4, activation, hidden: 300, seed: 5);
        var x = Points<double>(40, 4, seed: 6);
        foreach (var op in new[] { PdeOperator<double>.Laplacian(4), PdeOperator<double>.Biharmonic(4) })
            foreach (var mode in new[] { TaylorMode.Collapsed, TaylorMode.Standard })
            {
                var expected = PdeOps.Apply(model, x, op, mode).Values.Value;
                Tensor<double> values;
                using (TensorPool<double>.Enter(minLength: 1, poison: true)) values = PdeOps.Evaluate(model, x, op, mode, batchSize: 16);
                AssertRelative(expected, values, 1e-13, $"{op} {mode} poisoned pool");
            }
        // Functions using their input several times: products of jets, and a shifted input whose jet aliases the seed's
        // directions (x + c has x's coefficients) and dies before x's last use.
        var shift = Points<double>(1, 3, seed: 13).Reshape(3);
        Var<double> Aliasing(Var<double> v) => F.Add(F.Sum(F.Tanh(F.Add(v, Var<double>.Constant(shift))), [1]), F.Sum(F.Sin(v), [1]));
        var xc = Points<double>(9, 3, seed: 12);
        foreach (var u in new Func<Var<double>, Var<double>>[] { Composite, Aliasing })
            foreach (var op in new[] { PdeOperator<double>.Laplacian(3), PdeOperator<double>.Biharmonic(3) })
            {
                var expected = PdeOps.Apply(u, xc, op).Values.Value;
                Tensor<double> values;
                using (TensorPool<double>.Enter(minLength: 1, poison: true)) values = PdeOps.Evaluate(u, xc, op, batchSize: 4);
                AssertRelative(expected, values, 1e-13, $"{op} poisoned pool");
            }
    }

    [Fact]
    public void CollapsedLaplacianIsOneGemmAndOneFusedNodePerLayer()
    {
        // The differentiable graph of the collapsed Laplacian of an MLP: per linear layer, the traced forward GEMM (N rows)
        // and one GEMM over the packed jet (D N rows into the first layer, (D + 1) N after it), never one per direction
        // or coefficient;
        // per activation, one fused Taylor node.
        int d = 4, n = 7;
        var model = Mlp<double>(d, "tanh", hidden: 6, residual: false, seed: 9);
        var result = PdeOps.Apply(model, Points<double>(n, d, seed: 10), PdeOperator<double>.Laplacian(d));
        var nodes = Autograd.CollectNodes([result.Values]);
        var weights = model.Parameters().Select(p => p.Var).Where(v => v.Rank == 2).ToArray();
        for (int l = 0; l < weights.Length; l++)
        {
            var rows = nodes.Where(node => node.Inputs.Length > 1 && ReferenceEquals(node.Inputs[1], weights[l]))
                .Select(node => node.Inputs[0].Shape[0]).Order().ToArray();
            // The output layer's traced value is not an input of the Laplacian: only its packed GEMM is in the graph.
            int packed = (l == 0 ? d : d + 1) * n;
            Assert.Equal(l == weights.Length - 1 ? new[] { packed } : new[] { n, packed }, rows);
        }
        Assert.Equal(2, nodes.Count(node => node.Primitive.Name == "TanhTaylor2"));
        Assert.DoesNotContain(nodes, node => node.Primitive.Name is "Multiply" or "SumTo" or "BroadcastTo");
    }

    [Fact]
    public void PrimitiveWithoutRuleIsANamedError()
    {
        var x = Points<double>(3, 2, seed: 1);
        var e = Assert.Throws<MissingTaylorRuleException>(() => PdeOps.Apply(v => F.LogSumExp(v), x, PdeOperator<double>.Laplacian(2)));
        Assert.Equal("LogSumExp", e.Primitive);
        Assert.Contains("LogSumExp", e.Message);
    }

    [Fact]
    public void BadShapesAreRejected()
    {
        var model = Mlp<double>(3, "tanh");
        Assert.Contains("[N, 3]", Assert.Throws<ArgumentException>(() => PdeOps.Apply(model, Points<double>(4, 2, 1), PdeOperator<double>.Laplacian(3))).Message);
        var wide = new CurvNative.NN.Modules.Linear<double>("w", 3, 2);
        Assert.Contains("scalar output", Assert.Throws<ArgumentException>(() => PdeOps.Apply(wide, Points<double>(4, 3, 1), PdeOperator<double>.Laplacian(3))).Message);
    }

    [Fact]
    public void InputGradientMatchesReverseMode()
    {
        var model = Mlp<double>(4, "sin", seed: 6);
        var x = Points<double>(10, 4, seed: 2);
        var leaf = Var<double>.Leaf(x.Clone());
        var expected = Autograd.Grad(F.Sum(model.Forward(leaf)), [leaf])[0].Value;
        AssertRelative(expected, PdeOps.InputGradient<double>(model.Forward, x).Value, 1e-13, "gradient");
    }
}
