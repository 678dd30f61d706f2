using CurvNative.Operators;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Operators;

public class SpaceTests
{
    private static readonly Space Mlp = new([16, 12], [16], [5, 16], [5]);

    [Fact]
    public void Dimension_offsets_and_sizes_follow_the_block_shapes()
    {
        Assert.Equal(192 + 16 + 80 + 5, Mlp.Dimension);
        Assert.Equal(4, Mlp.BlockCount);
        Assert.Equal([0, 192, 208, 288], Mlp.Offsets.ToArray());
        Assert.Equal([192, 16, 80, 5], Mlp.Sizes.ToArray());
        Assert.Equal([5, 16], Mlp.BlockShape(2).ToArray());
        Assert.Equal([5, 16], Mlp.Blocks[2].ToArray());
        Assert.Equal("[[16, 12], [16], [5, 16], [5]]", Mlp.ToString());
    }

    [Fact]
    public void Flat_scalar_and_empty_blocks()
    {
        Assert.Equal("[[7]]", Space.Flat(7).ToString());
        Assert.Equal(new Space([7]), Space.Flat(7));
        var s = new Space([], [0, 3], [2]);
        Assert.Equal(1 + 0 + 2, s.Dimension);
        Assert.Equal([0, 1, 1], s.Offsets.ToArray());
        Assert.Equal("[[], [0, 3], [2]]", s.ToString());
        Assert.Equal(0, Space.Flat(0).Dimension);
    }

    [Fact]
    public void Negative_dimensions_are_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new Space([3], [2, -1]));
        Assert.Contains("[2, -1]", e.Message);
        Assert.Contains("negative", e.Message);
        Assert.Throws<ArgumentException>(() => Space.Flat(-1));
    }

    [Fact]
    public void Equality_is_by_block_shapes_in_order()
    {
        Assert.Equal(new Space([16, 12], [16], [5, 16], [5]), Mlp);
        Assert.True(new Space([2, 3]) == new Space([2, 3]));
        Assert.Equal(new Space([2, 3]).GetHashCode(), new Space([2, 3]).GetHashCode());
        Assert.NotEqual(new Space([2, 3]), new Space([3, 2]));
        Assert.NotEqual(new Space([6]), new Space([2, 3]));        // same dimension, different blocks
        Assert.NotEqual(new Space([2], [3]), new Space([3], [2]));
        Assert.NotEqual(new Space([2, 3]), new Space([2], [3]));
        Assert.True(new Space([1]) != new Space([1], []));
    }

    [Fact]
    public void Construction_copies_the_shapes()
    {
        int[] shape = [4, 2];
        var s = new Space(shape);
        shape[0] = 99;
        Assert.Equal([4, 2], s.BlockShape(0).ToArray());
        Assert.Equal(8, s.Dimension);
    }

    [Fact]
    public void Split_and_join_are_inverse_and_row_major()
    {
        var flat = Tensor<double>.FromArray([.. Enumerable.Range(0, Mlp.Dimension).Select(i => (double)i)], Mlp.Dimension);
        var blocks = Mlp.Split(flat);
        Assert.Equal(4, blocks.Length);
        Assert.Equal([16, 12], blocks[0].ShapeArray);
        Assert.Equal(1 * 12 + 3, blocks[0][1, 3]);                     // row-major inside a block
        Assert.Equal(192 + 5, blocks[1][5]);
        Assert.Equal(208 + 2 * 16 + 7, blocks[2][2, 7]);
        Assert.Equal(flat.ToArray(), Mlp.Join(blocks).ToArray());
        blocks[1].Span[0] = -1;                                        // Split copies
        Assert.Equal(192, flat[192]);
    }

    [Fact]
    public void Split_and_join_reject_wrong_shapes_naming_them()
    {
        var e = Assert.Throws<ArgumentException>(() => Mlp.Split(Tensor<float>.Zeros(10)));
        Assert.Contains("[293]", e.Message);
        Assert.Contains("[10]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Mlp.Split(Tensor<float>.Zeros(293, 1)));
        Assert.Contains("[293, 1]", e.Message);
        var blocks = Mlp.Split(Tensor<float>.Zeros(293));
        blocks[2] = Tensor<float>.Zeros(16, 5);
        e = Assert.Throws<ArgumentException>(() => Mlp.Join(blocks));
        Assert.Contains("Block 2", e.Message);
        Assert.Contains("[5, 16]", e.Message);
        Assert.Contains("[16, 5]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Mlp.Join(blocks[..3]));
        Assert.Contains("Expected 4 blocks", e.Message);
    }

    [Fact]
    public void Subspace_keeps_the_given_blocks_in_order()
    {
        Assert.Equal(new Space([5], [16, 12]), Mlp.Subspace(3, 0));
        Assert.Equal(new Space([16]), Mlp.Subspace(1));
        Assert.Equal(0, Mlp.Subspace().Dimension);
        Assert.Throws<ArgumentOutOfRangeException>(() => Mlp.Subspace(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => Mlp.Subspace(-1));
        var e = Assert.Throws<ArgumentException>(() => Mlp.Subspace(1, 1));
        Assert.Contains("twice", e.Message);
    }

    [Fact]
    public void Concat_and_parameters()
    {
        Assert.Equal(new Space([2], [3, 4], [1]), Space.Concat(new Space([2]), new Space([3, 4], [1])));
        var p = new[]
        {
            new global::CurvNative.NN.Modules.Parameter<float>("w", Tensor<float>.Zeros(3, 2)),
            new global::CurvNative.NN.Modules.Parameter<float>("b", Tensor<float>.Zeros(3)),
        };
        Assert.Equal(new Space([3, 2], [3]), Space.FromParameters(p));
    }
}
