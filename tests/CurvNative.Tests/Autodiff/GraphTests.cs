using CurvNative.Autodiff;
using CurvNative.NN.Losses;
using CurvNative.NN.Data;
using CurvNative.NN.Modules;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Autodiff.FiniteDifference;

namespace CurvNative.Tests.Autodiff;

/// <summary>The engine on general graphs (skip connections, shared weights, several inputs),
/// layer hooks, and error messages for bad shapes.</summary>
public class GraphTests
{
    [Fact]
    public void ResidualSharedWeightsAndTwoInputsMatchFiniteDifferences()
    {
        // f(x, z, W) = tanh(W tanh(W x + z) + x): W used twice (shared), x on a skip path, two inputs.
        FiniteDifference.Function f = a =>
        {
            var h = F.Tanh(F.Add(F.MatMul(a[0], a[2], transB: true), a[1]));
            return F.Tanh(F.Add(F.MatMul(h, a[2], transB: true), a[0]));
        };
        for (int seed = 0; seed < 5; seed++)
            Check(f, rng => [Random(rng, [3, 4]), Random(rng, [3, 4]), Random(rng, [4, 4])], seed);
    }

    [Fact]
    public void ThirdDerivativeOfCubicIsExact()
    {
        // d^3/dx^3 sum(x^3) = 6 everywhere: differentiating a gradient twice more.
        var x = Var<double>.Leaf(Tensor<double>.FromArray([0.3, -1.2, 2.0], 3));
        var y = F.Sum(F.Mul(F.Mul(x, x), x));
        var g1 = Autograd.Grad(y, [x], createGraph: true)[0];
        var g2 = Autograd.Grad(F.Sum(g1), [x], createGraph: true)[0];
        var g3 = Autograd.Grad(F.Sum(g2), [x])[0];
        Assert.Equal([6.0, 6.0, 6.0], g3.Value.ToArray());
        Assert.Equal(new[] { 6 * 0.3, 6 * -1.2, 6 * 2.0 }, g2.Value.ToArray(), (a, b) => Math.Abs(a - b) < 1e-14);
    }

    [Fact]
    public void UnusedInputsGetZeroGradientsAndUnneededBranchesAreSkipped()
    {
        var a = Var<double>.Leaf(Tensor<double>.FromArray([1.0, 2.0], 2));
        var b = Var<double>.Leaf(Tensor<double>.FromArray([3.0, 4.0], 2));
        var y = F.Sum(F.Mul(a, a));
        var g = Autograd.Grad(y, [a, b]);
        Assert.Equal([2.0, 4.0], g[0].Value.ToArray());
        Assert.Equal([0.0, 0.0], g[1].Value.ToArray());
    }

    [Fact]
    public void JvpOfMlpEqualsJacobianTimesVector()
    {
        var rng = new Random(3);
        var model = new Sequential<double>(new Linear<double>("0", 4, 5, rng: rng), new Tanh<double>(), new Linear<double>("2", 5, 3, rng: rng));
        var ps = model.Parameters().Select(p => p.Var).ToList();
        var x = Var<double>.Constant(Random(rng, [6, 4]));
        var y = model.Forward(x);
        var v = ps.Select(p => Var<double>.Constant(Random(rng, p.Value.ShapeArray))).ToList();
        var jv = Autograd.Jvp(y, ps, v).Value;
        // Column-by-column VJPs give the Jacobian rows: <J v, e_i> = <v, J^T e_i>.
        for (int i = 0; i < y.Length; i++)
        {
            var e = Tensor<double>.Zeros(y.Value.ShapeArray); e.Span[i] = 1;
            var rows = Autograd.Grad(y, ps, Var<double>.Constant(e));
            double expected = rows.Select((r, k) => Dot(r.Value, v[k].Value)).Sum();
            Assert.True(Math.Abs(expected - jv.Span[i]) < 1e-12, $"output {i}: JVP {jv.Span[i]} vs Jacobian row {expected}");
        }
    }

    [Fact]
    public void HooksHandOutInputsAndOutputGradients()
    {
        var rng = new Random(5);
        var first = new Linear<double>("0", 3, 4, rng: rng);
        var model = new Sequential<double>(first, new Tanh<double>(), new Linear<double>("2", 4, 2, rng: rng));
        var loss = new MSELoss<double>(Reduction.Sum);
        Tensor<double>? seenInput = null, seenOutput = null, seenGrad = null;
        first.ForwardHooks += (_, input, output) => { seenInput = input.Value; seenOutput = output.Value; };
        first.BackwardHooks += (_, _, gradOutput) => seenGrad = gradOutput.Value;

        var x = Random(rng, [5, 3]);
        var target = Targets<double>.FromValues(Random(rng, [5, 2]));
        var l = loss.Forward(model.Forward(Var<double>.Constant(x)), target);
        var grads = Autograd.Grad(l, model.Parameters().Select(p => p.Var).ToList());
        Assert.Same(x, seenInput);
        Assert.NotNull(seenGrad);
        Shape.CheckEqual(seenOutput!.Shape, seenGrad!.Shape, "output gradient");
        // The weight gradient of a linear layer is (dL/dy)^T x: the hook's quantities reproduce it.
        var expected = TensorOps.MatMul(seenGrad, x, transA: true, transB: false);
        AssertClose(expected, grads[0].Value, 1e-13, "weight gradient from hook quantities");
    }

    [Fact]
    public void ShapeErrorsNameBothShapes()
    {
        var a = Var<double>.Leaf(Tensor<double>.Zeros(2, 3));
        var b = Var<double>.Leaf(Tensor<double>.Zeros(4, 5));
        var e = Assert.Throws<ArgumentException>(() => F.MatMul(a, b));
        Assert.Contains("[2, 3]", e.Message); Assert.Contains("[4, 5]", e.Message);
        e = Assert.Throws<ArgumentException>(() => F.Add(a, b));
        Assert.Contains("[2, 3]", e.Message); Assert.Contains("[4, 5]", e.Message);
        var lin = new Linear<double>("0", 7, 2);
        e = Assert.Throws<ArgumentException>(() => lin.Forward(a));
        Assert.Contains("7", e.Message); Assert.Contains("[2, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Autograd.Grad(F.Mul(a, a), [a]));
        Assert.Contains("[2, 3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Autograd.Jvp(F.Mul(a, a), [a], [Var<double>.Constant(Tensor<double>.Zeros(3, 2))]));
        Assert.Contains("[3, 2]", e.Message);
    }

    [Fact]
    public void CrossEntropyIsStableForHugeLogitsInFloat32()
    {
        var f = Var<float>.Leaf(Tensor<float>.FromArray([1e4f, -1e4f, 0f, -3e4f, 3e4f, 1f], 2, 3));
        var loss = new CrossEntropyLoss<float>().Forward(f, Targets<float>.FromClasses([1, 2]));
        var g = Autograd.Grad(loss, [f])[0];
        Assert.True(float.IsFinite(loss.Value.ToScalar()) && g.Value.AllFinite(), $"loss {loss.Value}, gradient {g.Value}");
        // Sample losses: logsumexp - picked logit = 1e4 - (-1e4) and 3e4 - 1; the mean is 24999.5.
        Assert.Equal(24999.5f, loss.Value.ToScalar(), 0.5f);
    }

    [Fact]
    public void DropoutAndBatchNormModesBehaveAsPyTorch()
    {
        var drop = new Dropout<double>(0.5, seed: 1);
        var x = Var<double>.Constant(Tensor<double>.Full(1.0, 1000));
        var y = drop.Forward(x).Value.ToArray();
        Assert.All(y, v => Assert.True(v == 0 || v == 2));
        Assert.InRange(y.Count(v => v == 0), 400, 600);
        drop.Eval();
        Assert.Same(x, drop.Forward(x));
    }
}
